"""Secret redaction (:mod:`prompts.redact`): every fixture secret disappears, its kind is named,
ordinary incident text is left alone, and deployments add their own patterns."""

from __future__ import annotations

import json

import pytest

from prompts import Redactor
from tests.prompts.secret_samples import ALL_SECRETS_TEXT, SAMPLES


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.kind for s in SAMPLES])
def test_each_fixture_secret_is_redacted(sample):
    redacted = Redactor().redact(sample.text)
    assert sample.secret not in redacted
    assert "[REDACTED:" in redacted


def test_all_secrets_in_one_text_are_redacted():
    redacted = Redactor().redact(ALL_SECRETS_TEXT)
    assert [s.kind for s in SAMPLES if s.secret in redacted] == []


def test_context_around_an_assigned_secret_stays_readable():
    assert Redactor().redact("db_password: 'hunter2hunter2' for app") == (
        "db_password: '[REDACTED:assignment]' for app"
    )
    assert Redactor().redact("postgresql://app:s3cr3t@db:5432/x") == (
        "postgresql://app:[REDACTED:url-password]@db:5432/x"
    )


def test_ordinary_incident_text_is_left_alone():
    text = (
        "checkoutservice v1.4.2 deployed to prod by dana at 10:16; 5xx ratio 12% on "
        "https://grafana.example.com/d/abc?orgId=1; rollback to v1.4.1 proposed (E1, C2)"
    )
    assert Redactor().redact(text) == text


def test_redaction_is_idempotent():
    once = Redactor().redact(ALL_SECRETS_TEXT)
    assert Redactor().redact(once) == once


def test_configured_patterns_are_applied_with_their_secret_group():
    redactor = Redactor([r"internal-(?P<secret>[0-9]{6})", r"ACME-[A-Z]{4}"])
    assert redactor.redact("ids internal-123456 and ACME-WXYZ") == (
        "ids internal-[REDACTED:custom] and [REDACTED:custom]"
    )


def test_an_invalid_configured_pattern_is_refused_by_name():
    with pytest.raises(ValueError, match=r"redaction pattern '\(unclosed' is invalid"):
        Redactor(["(unclosed"])


def test_secrets_inside_json_encoded_text_are_redacted():
    encoded = json.dumps({"alert": 'config: {"db_password": "Tr0ub4dor&3xyz"}'})
    assert "Tr0ub4dor" not in Redactor().redact(encoded)


@pytest.mark.parametrize(
    "unit", ["a.", "x-", "eyJ-", "password ", "://", "Bearer ", "token:", "sk-", "-----BEGIN "]
)
def test_hostile_repetitions_are_scanned_in_linear_time(unit):
    """Each pattern starts at a literal or a token start and never rescans a run: 200 kB of a
    repeated fragment completes (a quadratic pattern took over a minute on 40 kB of ``a.``;
    the timings are in the LLM issue's closing note, not asserted here)."""
    redactor = Redactor()
    once = redactor.redact(unit * (200_000 // len(unit)))
    assert redactor.redact(once) == once
