"""The README is the front door: what it tells a new user to run exists and works."""

from __future__ import annotations

import re

import pytest

from bot.cli.main import main
from tests.support.paths import ROOT

README = (ROOT / "README.md").read_text()


def test_quick_start_targets_exist_in_the_makefile():
    """``make demo`` and ``make test`` (and the other targets named) are Makefile targets."""
    named = set(re.findall(r"`make ([a-z-]+)`", README))
    assert {"demo", "test"} <= named
    targets = set(re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), re.MULTILINE))
    assert named <= targets


def test_every_command_in_the_readme_is_a_real_command(capsys):
    """Each ``backout <command>`` the README shows answers ``--help``."""
    commands = set(
        re.findall(r"^backout ([a-z]+(?: (?:check|list|upgrade|verify))?)", README, re.MULTILINE)
    )
    assert {"plan", "simulate", "serve", "db upgrade", "audit verify", "topology check"} <= commands
    for command in commands:
        with pytest.raises(SystemExit) as exc:
            main([*command.split(), "--help"])
        assert exc.value.code == 0
        assert "usage: backout" in capsys.readouterr().out


def test_the_readme_has_the_measured_tables():
    """The benchmark tables are filled in, not placeholders."""
    assert "ENGINE_TABLE" not in README
    assert "SLACK_TABLE" not in README
