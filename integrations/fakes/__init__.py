"""placeholder: filled in by the lead when the adapters land."""

from __future__ import annotations
