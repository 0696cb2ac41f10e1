"""Topology loaders: read topology files of any supported format into one service graph.

:func:`load_topology` and :func:`load_fragment` (``load.py``) recognise each document's format
and hand it to its loader: ``catalog.py`` (Backout's own catalog), ``backstage.py``,
``kubernetes.py`` (manifests) and ``traces.py`` (dependency links). Bad input is reported as
:class:`~planners.topology.Problem` values, never raised.
"""

from __future__ import annotations

from integrations.topology.load import SUFFIXES, load_fragment, load_topology

__all__ = ["SUFFIXES", "load_fragment", "load_topology"]
