"""The bot publishes the audit chain's head in its log when it moves (issue 12 item 6)."""

from __future__ import annotations

import logging

from bot.runtime.scheduler import AuditHeadPublisher


def test_the_head_is_logged_once_per_move(store, caplog):
    publish = AuditHeadPublisher(store)
    assert publish() is None  # an empty log has nothing to publish
    store.audit.append(actor="U1", action="test.entry", subject="s-1")
    with caplog.at_level(logging.INFO, logger="backout.audit"):
        head = publish()
        assert publish() is None  # unchanged: not logged again
    assert head is not None and head == store.audit.head() and head[0] == 1
    (line,) = [r.getMessage() for r in caplog.records if r.name == "backout.audit"]
    assert f"--head 1:{head[1]}" in line
