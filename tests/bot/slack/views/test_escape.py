"""Escaping untrusted text for Slack: mentions, links and broadcasts stay inert; cuts stay whole."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.slack.views.escape import clean, code, escape, safe_link, text_length, truncate

ZWJ = "\u200d"


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("<!channel>", "&lt;!channel&gt;"),
        ("<@U123>", "&lt;@U123&gt;"),
        ("<!subteam^S1>", "&lt;!subteam^S1&gt;"),
        ("<https://evil|click>", "&lt;https://evil|click&gt;"),
        ("a & b", "a &amp; b"),
        ("&lt;!here&gt;", "&amp;lt;!here&amp;gt;"),
    ],
)
def test_escape_turns_slack_control_characters_into_entities(raw, escaped):
    """``&``, ``<`` and ``>`` become entities, so Slack shows the markup instead of acting on it."""
    assert escape(raw) == escaped


@pytest.mark.parametrize("word", ["@channel", "@here", "@everyone", "@HERE", "@Channel", "@group"])
def test_escape_neutralises_broadcast_words(word):
    """A broadcast word gets a zero-width joiner after its ``@`` and no longer reads as one."""
    out = escape(f"ping {word} now")
    assert f"@{ZWJ}{word[1:]}" in out
    assert not re.search(r"@(channel|here|everyone|group)", out, re.I)


def test_escape_leaves_ordinary_at_signs_alone():
    """An e-mail address or a user name is shown as written."""
    assert escape("mail ops@example.com or @alice") == "mail ops@example.com or @alice"


def test_escape_removes_control_characters_and_reordering_marks():
    """Terminal escapes, NULs and bidi overrides vanish; line breaks and tabs become spaces."""
    assert escape("a\x00b\x1b[31mc\u202ed\te\r\nf") == "ab[31mcd e f"


def test_escape_keeps_line_breaks_when_asked():
    """With ``multiline`` a text keeps its lines (CRLF becomes one break)."""
    assert escape("one\r\ntwo\nthree", multiline=True) == "one\ntwo\nthree"


def test_clean_drops_lone_surrogates():
    """A lone surrogate cannot be encoded as UTF-8, so it is dropped."""
    assert clean("a\ud800b") == "ab"


def test_escape_cannot_be_fooled_by_a_control_character_inside_a_broadcast_word():
    """Removing a control character cannot assemble a broadcast word after the check."""
    assert "@here" not in escape("@\x00here")


def test_code_keeps_backticks_from_closing_the_span():
    """Backticks inside become look-alikes: the span holds the whole value."""
    assert code("a`b<!here>") == "`aˋb&lt;!here&gt;`"


def test_code_of_an_empty_value_is_a_dash():
    """An empty value (or only control characters) shows a dash, not an empty code span."""
    assert code("\x00 ") == "–"


@pytest.mark.parametrize(
    "url",
    [
        "https://grafana.example.com/d/abc?x=1&y=2",
        "http://10.0.0.1:3000/graph",
        "HTTPS://A.example",
    ],
)
def test_safe_link_masks_http_urls(url):
    """An http(s) URL becomes a masked link with the escaped label."""
    link = safe_link(url, label="graph <b>")
    assert link.startswith("<") and link.endswith("|graph &lt;b&gt;>")
    assert "&y=" not in link or "&amp;y=" in link


def test_safe_link_percent_encodes_characters_that_would_end_the_link():
    """A ``|`` or ``>`` in the URL cannot close the link early or change its label."""
    link = safe_link("https://a.example/x|y>z", label="ok")
    assert link == "<https://a.example/x%7Cy%3Ez|ok>"


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript://%0aalert(1)",
        "slack://channel?id=C1",
        "data:text/html,<b>x</b>",
        "ftp://files.example.com/a",
        "/relative/path",
        "https:evil.example",
        "https://user:pw@evil.example/",
        "https://trusted.example@evil.example/",
        "https://a.example/with space",
        "https://a.example/\nnext",
        "https://[::1",
        "https://hooks.example.com/rollback?token=tok-7f3a9c2e5b1d",
        "https://bucket.example.com/report?X-Amz-Signature=0a1b2c3d4e5f",
        "",
    ],
)
def test_safe_link_refuses_anything_but_plain_http_urls(url):
    """Other schemes, URLs with credentials (user info, a token or signature in the query),
    whitespace or broken URLs give the label alone."""
    assert safe_link(url, label="<click>") == "&lt;click&gt;"


def test_truncate_leaves_short_text_alone():
    """Text within the limit comes back unchanged."""
    assert truncate("short", limit=5) == "short"


def test_truncate_ends_with_an_ellipsis_within_the_limit():
    """A cut text ends with "…" and is no longer than the limit."""
    out = truncate("word " * 100, limit=20)
    assert out.endswith("…") and text_length(out) <= 20


def test_truncate_never_cuts_inside_an_entity():
    """A cut that would split ``&amp;`` drops the whole entity."""
    text = escape("ab&cd")  # ab&amp;cd
    for limit in range(1, len(text)):
        out = truncate(text, limit=limit)
        assert not re.search(r"&(?!amp;|lt;|gt;)", out), (limit, out)


def test_truncate_never_leaves_a_link_open():
    """A cut inside one of our links drops the link rather than leave ``<https://…`` open."""
    text = "see " + safe_link("https://a.example/very/long/path", label="the graph")
    out = truncate(text, limit=20)
    assert out == "see…"


def test_truncate_counts_astral_characters_as_two_units():
    """Emoji outside the BMP count twice, as UTF-16 does."""
    out = truncate("🙂" * 10, limit=7)
    assert out == "🙂🙂🙂…"


def test_truncate_rejects_a_limit_below_one():
    """A limit of zero cannot hold even the ellipsis."""
    with pytest.raises(ValueError, match="at least 1"):
        truncate("text", limit=0)


@settings(max_examples=300, deadline=None)
@given(text=st.text(), limit=st.integers(min_value=1, max_value=60))
def test_truncated_escaped_text_is_inert_and_within_the_limit(text, limit):
    """Any text, escaped and cut, fits the limit, keeps whole entities and has no raw markup."""
    out = truncate(escape(text), limit=limit)
    assert text_length(out) <= limit
    assert "<" not in out and ">" not in out
    assert not re.search(r"&(?!amp;|lt;|gt;)", out)


def test_escape_redacts_secrets_before_showing_text():
    """An executor's error with a token in a URL shows the error, not the token."""
    shown = escape("POST https://hooks.example.com/x?sig=0a1b2c3d4e&token=tok-7f3a9c2e5b1d: 500")
    assert "0a1b2c3d4e" not in shown and "tok-7f3a9c2e5b1d" not in shown
    assert shown.startswith("POST https://hooks.example.com/x?") and shown.endswith("500")
