"""Where the tests find the repository and their data files, instead of ``parents[N]``.

``ROOT`` is the checkout, ``FIXTURES`` the repository's own fixtures (``tests/fixtures``) and
``SHARED_FIXTURES`` the team's shared fixtures beside the checkout (``../shared/fixtures``), which
a fresh clone may not have: tests that read them skip when they are missing.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["FIXTURES", "ROOT", "SHARED_FIXTURES"]

ROOT = Path(__file__).resolve().parents[2]
"""The checkout: the folder holding ``pyproject.toml``."""
FIXTURES = ROOT / "tests" / "fixtures"
"""The fixtures kept in the repository, by kind (``alerts``, ``slack``, ...)."""
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures"
"""The shared fixtures beside the checkout; absent from a fresh clone."""
