"""Fixtures for the topology loader tests: hand-made inputs written to ``tmp_path``."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.support.topology import Write


@pytest.fixture
def write(tmp_path: Path) -> Write:
    """Write dedented text to a file under ``tmp_path`` (folders created) and return its path."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write
