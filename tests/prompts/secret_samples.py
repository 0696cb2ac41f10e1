"""Redaction fixtures: texts as they arrive in alerts, deploy notes and messages, each with the
secret inside it that must never reach a model. Shared by the redaction tests and the client
tests (which show that none of these secrets reaches the fake endpoint). The values are made up
and have the shape of the real thing."""

from __future__ import annotations

from typing import NamedTuple


class Sample(NamedTuple):
    kind: str
    text: str
    secret: str


_AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
_PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj"

SAMPLES: tuple[Sample, ...] = (
    Sample(
        "slack-token",
        "bot token is xoxb-2123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx ok",
        "xoxb-2123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    ),
    Sample(
        "slack-app-token",
        "socket mode uses xapp-1-A0123456789-1234567890123-abcdef0123456789",
        "xapp-1-A0123456789-1234567890123-abcdef0123456789",
    ),
    Sample(
        "slack-webhook",
        "notify https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX now",
        "T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
    ),
    Sample(
        "bearer",
        "curl -H 'Authorization: Bearer abcdef0123456789ghijklmnop' https://api",
        "abcdef0123456789ghijklmnop",
    ),
    Sample(
        "openai-key",
        "OPENAI key sk-proj-AbCdEf0123456789GhIjKlMnOpQrStUv leaked",
        "sk-proj-AbCdEf0123456789GhIjKlMnOpQrStUv",
    ),
    Sample(
        "github-token",
        "clone with ghp_0123456789abcdefghijABCDEFGHIJ012345",
        "ghp_0123456789abcdefghijABCDEFGHIJ012345",
    ),
    Sample(
        "gitlab-token", "GITLAB glpat-AbCdEfGhIjKlMnOpQrSt1234", "glpat-AbCdEfGhIjKlMnOpQrSt1234"
    ),
    Sample(
        "google-key",
        "maps key AIzaSyA1234567890abcdefghijklmnopqrstuv",
        "AIzaSyA1234567890abcdefghijklmnopqrstuv",
    ),
    Sample(
        "aws-access-key",
        "aws_access_key_id=AKIAIOSFODNN7EXAMPLE region=eu-west-1",
        "AKIAIOSFODNN7EXAMPLE",
    ),
    Sample("aws-secret", f"aws_secret_access_key = {_AWS_SECRET}", _AWS_SECRET),
    Sample(
        "url-password",
        "DATABASE_URL=postgresql://backout:hunter2-Secret@db.internal:5432/app",
        "hunter2-Secret",
    ),
    Sample("password-assignment", 'config: {"db_password": "Tr0ub4dor&3xyz"}', "Tr0ub4dor"),
    Sample(
        "jwt",
        "session eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
        "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U end",
        "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ),
    Sample(
        "private-key",
        f"key:\n-----BEGIN RSA PRIVATE KEY-----\n{_PEM_BODY}\n-----END RSA PRIVATE KEY-----\n",
        _PEM_BODY,
    ),
    Sample(
        "stripe-key",
        "billing sk_live_4eC39HqLyjWDarjtT1zdp7dc broke",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    ),
)
"""Every sample's ``secret`` must be gone from ``Redactor().redact(text)``."""

ALL_SECRETS_TEXT = "\n".join(sample.text for sample in SAMPLES)
"""All samples in one text (an alert description that carries every kind)."""
