"""Fakes of the outside world that keep state, shipped with the code so the demo and the tests share
them: loopback HTTP servers for Kubernetes, Argo CD and a flag service, and a small app for a real
Prometheus to scrape. None of them is used in production code paths.
"""

from __future__ import annotations
