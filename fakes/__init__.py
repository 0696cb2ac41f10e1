"""The test doubles, in one home: loopback servers that keep state and behave like the real
systems (Slack's Web API, the Kubernetes API, Argo CD, a flag service, a metrics app for a real
Prometheus, a webhook receiver), all on one base (:mod:`fakes.server`, whose ``Faults`` queue is
behind every ``fail_next``); a ``helm`` binary (:mod:`fakes.helm`); signed Slack requests; a
whole running bot (:mod:`fakes.world`); synthetic incidents and plans; and the demo
(``python -m fakes.demo``). Each fake's docstring names the real system's docs or source it
imitates and the failure states it can produce.

The tests, the demo and the benchmarks share them. They ship in the wheel (so the demo runs from
an installed package) but not in the Docker image, and nothing in ``bot``, ``integrations``,
``planners`` or ``prompts`` may import them (an import-linter contract).
"""

from __future__ import annotations

from fakes.slack import Call, FakeSlack, UploadedFile, User

__all__ = ["Call", "FakeSlack", "UploadedFile", "User"]
