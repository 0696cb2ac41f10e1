"""Benchmarks of Backout's planning core (``make bench``); not part of the installed package."""

from __future__ import annotations
