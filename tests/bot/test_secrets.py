"""Secrets stay secret (issue 11 item 13): the settings never print a credential, and an
executor failure that carries one (a webhook URL's ``?token=``, a password in a DSN) reaches
neither Slack (plan message, thread, replies) nor the audit log in clear."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.lifecycle import StepStatus
from bot.runtime.settings import Settings
from fakes import signing as slack
from fakes.world import ONCALL_2, BotWorld
from integrations.errors import PermanentIntegrationError
from tests.bot.slack.test_incident_story import (
    alertmanager,
    approve_both,
    live_plan_id,
    now_ts,
    plan_message,
    record_bad_deploy,
    step_status,
)

TOKEN = "tok-7f3a9c2e5b1d4f60"
PASSWORD = "hunter2-s3cr3t"


def test_the_settings_print_no_credential():
    settings = Settings(
        database_url=f"postgresql+psycopg://backout:{PASSWORD}@db/backout",
        executors={
            "webhook": {"url": f"https://hooks.example.com/rollback?token={TOKEN}"},
            "argocd": {"server": "https://argocd.example.com", "token": TOKEN},
        },
        webhooks={"secret": TOKEN, "github_secret": TOKEN, "pagerduty_secret": TOKEN},
    )
    shown = f"{settings!r} {settings} {settings.model_dump()}"
    assert TOKEN not in shown and PASSWORD not in shown
    # ... while the code that needs a value still gets it.
    assert ("webhook", "webhook", {"url": f"https://hooks.example.com/rollback?token={TOKEN}"}) in (
        settings.executor_configs()
    )
    assert PASSWORD in settings.database_url.get_secret_value()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[BotWorld]:
    with BotWorld(tmp_path, step_seconds=0.1) as running:
        yield running


def test_an_executor_error_with_credentials_is_redacted_everywhere(world):
    error = (
        f"POST https://hooks.example.com/rollback?token={TOKEN} failed: 500; "
        f"retried via postgresql://backout:{PASSWORD}@db/backout"
    )
    world.executor.fail(
        "cartservice", error=PermanentIntegrationError(error, integration="webhook"), times=5
    )
    record_bad_deploy(world)
    alertmanager(world, "[FIRING:1]", now_ts(-60))
    plan_id = world.wait_for(lambda: live_plan_id(world))
    message = plan_message(world, plan_id)
    approve_both(world, plan_id, message.ts)
    world.wait_for(lambda: StepStatus.FAILED in step_status(world, plan_id), timeout=15)
    # The stranger's preview of the plan, and a status read, go through the same views.
    request = slack.slash_command(
        f"status {plan_id}", user=ONCALL_2, channel=world.alerts_channel, secret=world.secret
    )
    assert world.post(request).status_code == 200
    world.settle()

    sent = json.dumps([call.args for call in world.slack.calls])
    assert "failed: 500" in sent  # the failure itself is shown ...
    assert TOKEN not in sent and PASSWORD not in sent  # ... without its credentials
    audit = json.dumps(
        [entry.details for entry in world.services.store.audit.entries()], ensure_ascii=False
    )
    assert "failed: 500" in audit
    assert TOKEN not in audit and PASSWORD not in audit
