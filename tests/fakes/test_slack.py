"""The fake Slack Web API server, driven by the real ``slack_sdk.WebClient``.

These tests pin what the rest of the suite and the demo rely on: the state the fake keeps, the
limits it enforces, the faults it injects and how slack_sdk reacts to them.
"""

from __future__ import annotations

import http.client
import json
import re
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from fakes import FakeSlack, User
from fakes.slack import RATELIMITED_TOKEN

CHANNEL = "C07INC1DNT"
XOXB = "xoxb-backout-test"  # the fake accepts any xoxb- token
XAPP = "xapp-1-A08BKOUT77"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(
        users=[User(id="U05SRE042", name="sre", real_name="Sam Reliability")],
        usergroups={"S0ONCALL": ["U05SRE042", "U06DEV007"]},
    ) as fake:
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> WebClient:
    return _client(slack)


def _client(slack: FakeSlack, credential: str | None = XOXB, **options: Any) -> WebClient:
    return WebClient(base_url=slack.api_url, token=credential, **options)


def _error(exc: pytest.ExceptionInfo[SlackApiError]) -> str:
    return str(exc.value.response["error"])


# -- lifecycle ----------------------------------------------------------------------------------


def test_instances_listen_on_their_own_loopback_ports() -> None:
    """Two fakes run side by side on 127.0.0.1, each on a port the OS picked."""
    with FakeSlack() as one, FakeSlack() as two:
        assert one.base_url.startswith("http://127.0.0.1:")
        assert one.port != two.port
        _client(one).chat_postMessage(channel="C1", text="a")
        assert len(one.calls) == 1 and two.calls == []


def test_the_client_base_url_must_include_the_api_path(slack: FakeSlack) -> None:
    """``base_url`` without ``/api`` reaches no method: the fake answers 404 and records nothing.

    WebClient appends the missing trailing slash itself, so ``base_url + "/api"`` also works.
    """
    with pytest.raises(SlackApiError) as exc:
        WebClient(base_url=slack.base_url, token=XOXB).auth_test()
    assert exc.value.response.status_code == 404
    assert slack.calls == []
    assert WebClient(base_url=slack.base_url + "/api", token=XOXB).auth_test()["ok"]
    assert [c.method for c in slack.calls] == ["auth.test"]


def test_a_stopped_fake_has_no_url() -> None:
    """After stop() the fake refuses to hand out a URL instead of naming a dead port."""
    fake = FakeSlack().start()
    fake.stop()
    with pytest.raises(RuntimeError, match="not running"):
        _ = fake.base_url


# -- messages -----------------------------------------------------------------------------------


def test_post_then_update_then_read_history(slack: FakeSlack, client: WebClient) -> None:
    """A posted message can be edited in place, and history shows the edited version."""
    posted = client.chat_postMessage(channel=CHANNEL, text="Planning a rollback…")
    assert posted["ok"] and posted["channel"] == CHANNEL
    assert posted["message"]["text"] == "Planning a rollback…"

    updated = client.chat_update(channel=CHANNEL, ts=posted["ts"], text="Plan ready")
    assert updated["ts"] == posted["ts"] and updated["text"] == "Plan ready"

    history = client.conversations_history(channel=CHANNEL)["messages"]
    assert [m["text"] for m in history] == ["Plan ready"]
    assert history[0]["user"] == "U0BACKOUT" and "edited" in history[0]
    assert slack.message(CHANNEL, posted["ts"])["text"] == "Plan ready"


def test_update_of_an_unknown_message_is_message_not_found(client: WebClient) -> None:
    """chat.update on a ts that was never posted fails like Slack does."""
    with pytest.raises(SlackApiError) as exc:
        client.chat_update(channel=CHANNEL, ts="1773756345.000100", text="x")
    assert _error(exc) == "message_not_found"


def test_ts_are_unique_and_increasing(client: WebClient) -> None:
    """Each message gets a Slack-shaped ts greater than the previous one."""
    stamps = [client.chat_postMessage(channel=CHANNEL, text=str(i))["ts"] for i in range(20)]
    assert all(re.fullmatch(r"\d{10}\.\d{6}", ts) for ts in stamps)
    assert [float(ts) for ts in stamps] == sorted({float(ts) for ts in stamps})


def test_history_is_newest_first_and_honours_limit(client: WebClient) -> None:
    """conversations.history lists top-level messages newest first, ``limit`` at a time."""
    for text in ("one", "two", "three"):
        client.chat_postMessage(channel=CHANNEL, text=text)
    page = client.conversations_history(channel=CHANNEL, limit=2)
    assert [m["text"] for m in page["messages"]] == ["three", "two"]
    assert page["has_more"] is True


def test_thread_replies_are_kept_out_of_history(slack: FakeSlack, client: WebClient) -> None:
    """Replies carry ``thread_ts``, show in conversations.replies, and not in history."""
    parent = client.chat_postMessage(channel=CHANNEL, text="Plan")
    for text in ("step 1 done", "step 2 done"):
        client.chat_postMessage(channel=CHANNEL, text=text, thread_ts=parent["ts"])

    thread = client.conversations_replies(channel=CHANNEL, ts=parent["ts"])["messages"]
    assert [m["text"] for m in thread] == ["Plan", "step 1 done", "step 2 done"]
    assert all(m["thread_ts"] == parent["ts"] for m in thread)
    assert thread[0]["reply_count"] == 2

    history = client.conversations_history(channel=CHANNEL)["messages"]
    assert [m["text"] for m in history] == ["Plan"]
    assert len(slack.messages(CHANNEL)) == 3


def test_replies_of_an_unknown_thread_is_thread_not_found(client: WebClient) -> None:
    """conversations.replies on a ts that was never posted fails like Slack does."""
    with pytest.raises(SlackApiError) as exc:
        client.conversations_replies(channel=CHANNEL, ts="1773756345.000100")
    assert _error(exc) == "thread_not_found"


def test_ephemeral_messages_are_stored_per_user(slack: FakeSlack, client: WebClient) -> None:
    """An ephemeral answers ``message_ts``, is kept for its user and never enters the channel."""
    answer = client.chat_postEphemeral(channel=CHANNEL, user="U05SRE042", text="Not allowed")
    stored = slack.ephemerals("U05SRE042")
    assert [(m["text"], m["channel"], m["ts"]) for m in stored] == [
        ("Not allowed", CHANNEL, answer["message_ts"])
    ]
    assert slack.ephemerals("U06DEV007") == []
    assert slack.messages(CHANNEL) == []


def test_permalink_points_at_the_message(client: WebClient) -> None:
    """chat.getPermalink builds the archive link from the channel and the ts."""
    ts = client.chat_postMessage(channel=CHANNEL, text="Plan")["ts"]
    link = client.chat_getPermalink(channel=CHANNEL, message_ts=ts)["permalink"]
    assert link == f"https://backout-demo.slack.com/archives/{CHANNEL}/p{ts.replace('.', '')}"


def test_a_message_needs_text_or_blocks(client: WebClient) -> None:
    """chat.postMessage with nothing to show answers ``no_text``."""
    with pytest.raises(SlackApiError) as exc:  # api_call: chat_postMessage warns without text
        client.api_call("chat.postMessage", json={"channel": CHANNEL})
    assert _error(exc) == "no_text"


# -- Slack's limits -----------------------------------------------------------------------------


def test_more_than_50_blocks_are_invalid_blocks(slack: FakeSlack, client: WebClient) -> None:
    """51 blocks are refused with ``invalid_blocks`` and nothing is stored."""
    blocks = [{"type": "divider"}] * 51
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel=CHANNEL, text="plan", blocks=blocks)
    assert _error(exc) == "invalid_blocks"
    assert exc.value.response["errors"] == ["no more than 50 items allowed [json-pointer:/blocks]"]
    assert slack.messages(CHANNEL) == []
    assert client.chat_postMessage(channel=CHANNEL, text="plan", blocks=blocks[:50])["ok"]


def test_section_text_over_3000_characters_is_invalid_blocks(client: WebClient) -> None:
    """A section's text may hold 3,000 characters, not one more; the error points at it."""
    ok = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3000}}
    too_long = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}
    assert client.chat_postMessage(channel=CHANNEL, text="t", blocks=[ok])["ok"]
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel=CHANNEL, text="t", blocks=[ok, too_long])
    assert _error(exc) == "invalid_blocks"
    assert "[json-pointer:/blocks/1/text/text]" in exc.value.response["errors"][0]


def test_text_beyond_40000_characters_is_truncated(slack: FakeSlack, client: WebClient) -> None:
    """Overlong ``text`` is accepted and cut to 40,000 characters."""
    ts = client.chat_postMessage(channel=CHANNEL, text="y" * 40_123)["ts"]
    assert len(slack.message(CHANNEL, ts)["text"]) == 40_000


# -- recording ----------------------------------------------------------------------------------


def test_calls_are_recorded_with_decoded_args_whatever_the_encoding(
    slack: FakeSlack, client: WebClient
) -> None:
    """A JSON body and a form body with JSON-encoded ``blocks`` record the same arguments."""
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Plan*"}}]
    client.chat_postMessage(channel=CHANNEL, text="t", blocks=blocks)  # JSON body
    client.api_call(  # form body, as older code and bolt's say() fallbacks send it
        "chat.postMessage", params={"channel": CHANNEL, "text": "t", "blocks": json.dumps(blocks)}
    )
    calls = slack.calls_to("chat.postMessage")
    assert [c.args for c in calls] == [{"channel": CHANNEL, "text": "t", "blocks": blocks}] * 2
    assert all(c.token == XOXB and c.at.tzinfo is not None for c in calls)


def test_unknown_methods_answer_unknown_method(slack: FakeSlack, client: WebClient) -> None:
    """A method the fake does not implement fails as ``unknown_method`` and is still recorded."""
    with pytest.raises(SlackApiError) as exc:
        client.api_call("reactions.add", params={"name": "eyes"})
    assert _error(exc) == "unknown_method"
    assert [c.method for c in slack.calls] == ["reactions.add"]


def test_concurrent_posts_all_land_with_distinct_ts(slack: FakeSlack, client: WebClient) -> None:
    """Posts from many threads are all stored, each with its own ts."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(
            pool.map(lambda i: client.chat_postMessage(channel=CHANNEL, text=str(i)), range(40))
        )
    assert len({a["ts"] for a in answers}) == 40
    assert sorted(int(m["text"]) for m in slack.messages(CHANNEL)) == list(range(40))


# -- tokens -------------------------------------------------------------------------------------


def test_tokens_are_checked(slack: FakeSlack) -> None:
    """No token is ``not_authed``, a foreign one ``invalid_auth``, an app token may not post."""
    expectations = {
        None: "not_authed",
        "xoxp-user": "invalid_auth",
        XAPP: "not_allowed_token_type",
    }
    for token, error in expectations.items():
        with pytest.raises(SlackApiError) as exc:
            _client(slack, token).chat_postMessage(channel="C1", text="x")
        assert _error(exc) == error
    assert slack.messages("C1") == []


def test_only_configured_tokens_are_accepted() -> None:
    """With ``tokens=`` given, another well-formed bot token is ``invalid_auth``."""
    with FakeSlack(tokens={XOXB}) as fake:
        assert _client(fake).auth_test()["ok"]
        with pytest.raises(SlackApiError) as exc:
            _client(fake, "xoxb-other").auth_test()
        assert _error(exc) == "invalid_auth"


def test_auth_test_describes_the_bot_and_is_configurable() -> None:
    """auth.test names the bot user, bot id and workspace the fake was built with."""
    with FakeSlack(team_id="T0AB12CD3", bot_user_id="U08BKOUT01", bot_id="B08BKOUT22") as fake:
        answer = _client(fake).auth_test()
    assert (answer["team_id"], answer["user_id"], answer["bot_id"]) == (
        "T0AB12CD3",
        "U08BKOUT01",
        "B08BKOUT22",
    )
    assert answer["url"] == "https://backout-demo.slack.com/"


def test_socket_mode_connection_url_needs_an_app_token(slack: FakeSlack) -> None:
    """apps.connections.open hands an app token a loopback ws:// URL."""
    answer = _client(slack, XAPP).apps_connections_open(app_token=XAPP)
    assert answer["url"].startswith(f"ws://127.0.0.1:{slack.port}/")


# -- fault injection ----------------------------------------------------------------------------


def test_429_carries_retry_after(slack: FakeSlack, client: WebClient) -> None:
    """fail_next(status=429) answers HTTP 429, ``Retry-After`` and ``ratelimited``, once."""
    slack.fail_next("chat.postMessage", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel=CHANNEL, text="x")
    assert exc.value.response.status_code == 429
    assert exc.value.response.headers["Retry-After"] == "7"
    assert _error(exc) == "ratelimited"
    assert client.chat_postMessage(channel=CHANNEL, text="x")["ok"]


def test_rate_limit_retry_handler_retries_and_succeeds(slack: FakeSlack) -> None:
    """slack_sdk's RateLimitErrorRetryHandler waits out the 429 and the retry is stored once."""
    slack.fail_next("chat.postMessage", status=429, retry_after=0)
    client = _client(slack, retry_handlers=[RateLimitErrorRetryHandler()])
    answer = client.chat_postMessage(channel=CHANNEL, text="plan")
    assert answer["ok"]
    assert len(slack.calls_to("chat.postMessage")) == 2
    assert [m["text"] for m in slack.messages(CHANNEL)] == ["plan"]


def test_the_ratelimited_token_is_always_rate_limited(slack: FakeSlack) -> None:
    """As with python-slack-sdk's mock server, ``xoxb-ratelimited`` always gets 429."""
    client = _client(slack, RATELIMITED_TOKEN)
    for _ in range(2):
        with pytest.raises(SlackApiError) as exc:
            client.auth_test()
        assert exc.value.response.status_code == 429
        assert exc.value.response.headers["Retry-After"] == "1"


def test_server_errors_are_answered_and_retryable(slack: FakeSlack, client: WebClient) -> None:
    """500 answers ``fatal_error``; ServerErrorRetryHandler gets through a 503."""
    slack.fail_next("chat.update", status=500)
    ts = client.chat_postMessage(channel=CHANNEL, text="a")["ts"]
    with pytest.raises(SlackApiError) as exc:
        client.chat_update(channel=CHANNEL, ts=ts, text="b")
    assert exc.value.response.status_code == 500 and _error(exc) == "fatal_error"
    assert slack.message(CHANNEL, ts)["text"] == "a"

    slack.fail_next("chat.update", status=503)
    quick = FixedValueRetryIntervalCalculator(0.01)
    retrying = _client(slack, retry_handlers=[ServerErrorRetryHandler(interval_calculator=quick)])
    assert retrying.chat_update(channel=CHANNEL, ts=ts, text="b")["ok"]
    assert slack.message(CHANNEL, ts)["text"] == "b"


def test_an_injected_error_answers_200_with_ok_false(slack: FakeSlack, client: WebClient) -> None:
    """fail_next(error=...) answers HTTP 200 with that Slack error, for ``times`` calls."""
    slack.fail_next("chat.postMessage", error="channel_not_found", times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as exc:
            client.chat_postMessage(channel=CHANNEL, text="x")
        assert exc.value.response.status_code == 200 and _error(exc) == "channel_not_found"
    assert client.chat_postMessage(channel=CHANNEL, text="x")["ok"]


def test_faults_for_one_method_queue_up(slack: FakeSlack, client: WebClient) -> None:
    """Faults queued for a method are served in order, one per call, other methods untouched."""
    slack.fail_next("chat.postMessage", error="is_archived")
    slack.fail_next("chat.postMessage", error="not_in_channel")
    assert client.auth_test()["ok"]
    errors = []
    for _ in range(2):
        with pytest.raises(SlackApiError) as exc:
            client.chat_postMessage(channel=CHANNEL, text="x")
        errors.append(_error(exc))
    assert errors == ["is_archived", "not_in_channel"]


def test_a_delay_outlasting_the_client_timeout_still_takes_effect(slack: FakeSlack) -> None:
    """The client times out (slack_sdk does not retry timeouts), yet Slack posts the message."""
    slack.fail_next("chat.postMessage", delay=1.5)
    client = _client(slack, timeout=1)
    with pytest.raises(TimeoutError):
        client.chat_postMessage(channel=CHANNEL, text="late")
    assert len(slack.calls_to("chat.postMessage")) == 1
    deadline = time.monotonic() + 3
    while not slack.messages(CHANNEL) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [m["text"] for m in slack.messages(CHANNEL)] == ["late"]


def test_fail_next_rejects_a_fault_that_changes_nothing(slack: FakeSlack) -> None:
    """A fault with status 200, no error and no delay is a mistake in the test."""
    with pytest.raises(ValueError, match="needs a status"):
        slack.fail_next("chat.postMessage")
    with pytest.raises(ValueError, match="at least 1"):
        slack.fail_next("chat.postMessage", error="x", times=0)


# -- users, groups, channels, views -------------------------------------------------------------


def test_usergroup_members_are_listed(client: WebClient) -> None:
    """usergroups.users.list returns the configured members; an unknown group is refused."""
    assert client.usergroups_users_list(usergroup="S0ONCALL")["users"] == [
        "U05SRE042",
        "U06DEV007",
    ]
    with pytest.raises(SlackApiError) as exc:
        client.usergroups_users_list(usergroup="S0NOPE")
    assert _error(exc) == "no_such_subteam"


def test_users_info_describes_configured_users(client: WebClient) -> None:
    """users.info answers configured users and the bot, and ``user_not_found`` otherwise."""
    sre = client.users_info(user="U05SRE042")["user"]
    assert (sre["name"], sre["real_name"], sre["is_bot"], sre["deleted"]) == (
        "sre",
        "Sam Reliability",
        False,
        False,
    )
    assert client.users_info(user="U0BACKOUT")["user"]["is_bot"] is True
    with pytest.raises(SlackApiError) as exc:
        client.users_info(user="U0NOBODY")
    assert _error(exc) == "user_not_found"


def test_configured_channels_are_the_only_ones() -> None:
    """With ``channels=`` given, conversations.info names them and other ids are not found."""
    with FakeSlack(channels={CHANNEL: "inc-checkout"}) as fake:
        client = _client(fake)
        assert client.conversations_info(channel=CHANNEL)["channel"]["name"] == "inc-checkout"
        with pytest.raises(SlackApiError) as exc:
            client.chat_postMessage(channel="C0ELSEWHERE", text="x")
        assert _error(exc) == "channel_not_found"


def test_views_are_opened_updated_and_published(slack: FakeSlack, client: WebClient) -> None:
    """views.open returns an id, views.update replaces that view, views.publish keeps a home."""
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Roll back"}, "blocks": []}
    view_id = client.views_open(trigger_id="123.456.abc", view=modal)["view"]["id"]
    edited = modal | {"title": {"type": "plain_text", "text": "Rolling back"}}
    assert client.views_update(view_id=view_id, view=edited)["view"]["id"] == view_id
    home = client.views_publish(user_id="U05SRE042", view={"type": "home", "blocks": []})
    views = slack.views
    assert views[view_id]["title"]["text"] == "Rolling back"
    assert views[home["view"]["id"]]["type"] == "home"
    with pytest.raises(SlackApiError) as exc:
        client.views_update(view_id="V0MISSING", view=modal)
    assert _error(exc) == "not_found"


# -- files --------------------------------------------------------------------------------------


def test_files_upload_v2_stores_the_bytes_and_shares_them(
    slack: FakeSlack, client: WebClient
) -> None:
    """files_upload_v2's three steps store the PNG and post it to the channel."""
    answer = client.files_upload_v2(
        channel=CHANNEL, file=PNG, filename="plan.png", title="Plan", initial_comment="The graph"
    )
    file_id = answer["file"]["id"]
    stored = slack.files[file_id]
    assert stored.content == PNG and stored.filename == "plan.png" and stored.title == "Plan"
    assert stored.channels == (CHANNEL,) and stored.completed
    [shared] = slack.messages(CHANNEL)
    assert shared["text"] == "The graph" and shared["files"][0]["id"] == file_id
    assert [c.method for c in slack.calls] == [
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]


def test_upload_url_accepts_multipart(slack: FakeSlack, client: WebClient) -> None:
    """The upload URL also takes a multipart body and keeps the file part's bytes."""
    url = client.files_getUploadURLExternal(filename="plan.png", length=len(PNG))["upload_url"]
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="plan.png"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + PNG
        + f"\r\n--{boundary}--\r\n".encode()
    )
    connection = http.client.HTTPConnection("127.0.0.1", slack.port, timeout=5)
    content_type = f"multipart/form-data; boundary={boundary}"
    connection.request("POST", urlsplit(url).path, body, {"Content-Type": content_type})
    assert connection.getresponse().read() == f"OK - {len(PNG)}".encode()
    connection.close()
    assert next(iter(slack.files.values())).content == PNG


def test_completing_an_upload_that_sent_no_bytes_fails(client: WebClient) -> None:
    """files.completeUploadExternal refuses a file whose bytes never arrived."""
    file_id = client.files_getUploadURLExternal(filename="plan.png", length=3)["file_id"]
    with pytest.raises(SlackApiError) as exc:
        client.files_completeUploadExternal(
            files=[{"id": file_id, "title": "p"}], channel_id=CHANNEL
        )
    assert _error(exc) == "file_not_found"


# -- transcript ---------------------------------------------------------------------------------


def test_transcript_tells_the_conversation_compactly(slack: FakeSlack, client: WebClient) -> None:
    """Posts, replies, edits, ephemerals and file shares read as numbered one-line entries."""
    plan_blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Rollback plan"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "1. Pause sync\n2. Undo rollout"}},
        {
            "type": "actions",
            "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": "Approve & execute"}},
                {"type": "button", "text": {"type": "plain_text", "text": "Reject"}},
            ],
        },
    ]
    ts = client.chat_postMessage(channel=CHANNEL, text="Planning…")["ts"]
    client.chat_update(channel=CHANNEL, ts=ts, text="Rollback plan", blocks=plan_blocks)
    client.chat_postEphemeral(channel=CHANNEL, user="U05SRE042", text="Only on-call may approve")
    client.chat_postMessage(channel=CHANNEL, thread_ts=ts, text="Step 1 done", username="backout")
    client.files_upload_v2(channel=CHANNEL, file=PNG, filename="graph.png", thread_ts=ts)

    assert slack.transcript() == [
        f"#1 {CHANNEL} U0BACKOUT posted: Planning…",
        f"#1 {CHANNEL} U0BACKOUT edited: # Rollback plan | 1. Pause sync / 2. Undo rollout"
        " | [Approve & execute] [Reject]",
        f"{CHANNEL} U0BACKOUT to U05SRE042 only: Only on-call may approve",
        f"#2 {CHANNEL} thread #1 backout posted: Step 1 done",
        f"#3 {CHANNEL} thread #1 U0BACKOUT shared: graph.png ({len(PNG)} bytes)",
    ]
