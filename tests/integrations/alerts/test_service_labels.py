"""The service is the first present label of a configurable list, taken verbatim."""

from __future__ import annotations

import pytest

from integrations.alerts import DEFAULT_SERVICE_LABELS, parse_alerts
from tests.support.alert_payloads import am_alert, am_group

LABELS = {"alertname": "X", "service": "cart-svc", "app": "cartservice", "job": "cart-metrics"}


def _service(labels: dict[str, str], **kwargs: tuple[str, ...]) -> str | None:
    (alert,) = parse_alerts(am_group(am_alert(labels=labels)), **kwargs)
    return alert.service


def test_default_order_prefers_the_service_label() -> None:
    """With the default list, 'service' wins over 'app' and 'job'."""
    assert DEFAULT_SERVICE_LABELS[0] == "service"
    assert _service(LABELS) == "cart-svc"


@pytest.mark.parametrize(
    ("order", "expected"),
    [(("app",), "cartservice"), (("job", "app"), "cart-metrics"), (("deployment",), None)],
)
def test_label_order_is_configurable(order: tuple[str, ...], expected: str | None) -> None:
    """The first present label of the given list names the service, or none does."""
    assert _service(LABELS, service_labels=order) == expected


def test_no_service_label_means_no_service() -> None:
    """An alert with none of the labels has service None."""
    assert _service({"alertname": "X", "team": "web"}) is None


def test_an_empty_label_counts_as_absent() -> None:
    """An empty 'service' label falls through to the next label."""
    assert _service({"alertname": "X", "service": "", "app": "cartservice"}) == "cartservice"


@pytest.mark.parametrize(
    "lookalike",
    [
        "checkout\u200bservice",  # zero-width space
        "\u0441heckoutservice",  # Cyrillic small es
        "checkoutservice\u200d",  # zero-width joiner
        "Checkoutservice",
        "checkoutservice ",
        "ｃheckoutservice",  # fullwidth c (NFKC would fold it)
    ],
)
def test_lookalike_service_names_are_kept_verbatim(lookalike: str) -> None:
    """A look-alike name is neither folded nor stripped, so it stays unlike the real one."""
    service = _service({"alertname": "X", "service": lookalike})
    assert service == lookalike
    assert service != "checkoutservice"


def test_a_single_string_is_refused_as_a_label_list() -> None:
    """Passing one string instead of a sequence of names is a programming error."""
    with pytest.raises(TypeError, match="sequence of label names"):
        parse_alerts(am_group(am_alert()), service_labels="app")
