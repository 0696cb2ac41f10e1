"""What several test modules share, one module per thing it supports (not the test doubles).

The fakes a test talks to (Slack, Kubernetes, Argo CD, ...) live in the top-level package
``fakes``; this package holds the rest: where the repository and its fixtures are
(:mod:`~tests.support.paths`), free loopback ports (:mod:`~tests.support.loopback`), a real
Prometheus (:mod:`~tests.support.prometheus`), the inputs of the alert parsers
(:mod:`~tests.support.alert_payloads`) and of the channel parsers
(:mod:`~tests.support.slack_messages`), hand-made planner inputs (:mod:`~tests.support.planning`),
plans and races for the store (:mod:`~tests.support.store`), the checks of the view tests
(:mod:`~tests.support.views`) and the topology loaders' inputs (:mod:`~tests.support.topology`).
A helper that only one test module uses stays beside that module.
"""

from __future__ import annotations

__all__: list[str] = []
