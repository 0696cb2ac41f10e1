"""LLM prompt templates, one file per template (layer 0: data and a tiny loader, nothing else).

Templates arrive with the LLM issue; the package exists now so the layering contract holds.
"""

from __future__ import annotations

__all__: list[str] = []
