"""The public surface of ``bot.slack.views``: sorted, complete, and free of Slack client imports."""

from __future__ import annotations

import subprocess
import sys

import bot.slack.views


def _isort_key(name: str) -> tuple[int, str]:
    if name.isupper():
        return (0, name)
    return (1 if name[:1].isupper() else 2, name)


def test_all_is_sorted_and_every_name_exists():
    """``__all__`` is sorted as ruff's RUF022 sorts it, and names only what exists."""
    exported = list(bot.slack.views.__all__)
    assert exported == sorted(exported, key=_isort_key)
    assert [n for n in exported if not hasattr(bot.slack.views, n)] == []


def test_views_never_load_a_slack_client():
    """Importing the views loads neither slack_sdk nor slack_bolt: they only build dicts."""
    code = (
        "import sys, bot.slack.views, bot.slack.messages; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'slack_sdk', 'slack_bolt'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
