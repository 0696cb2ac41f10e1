"""The Backout catalog loader: a top-level ``services:`` list, as DESIGN.md describes a Service.

One of the topology loaders of ``integrations/topology/``; it turns an already parsed catalog
document into a :class:`planners.topology.Fragment` whose services carry strict ``depends_on``
edges. Every problem is reported by service and field, never only the first: an entry with a bad
field is still declared (that field defaulted) so one typo does not cascade into dangling
references elsewhere; only an entry with no usable name is skipped. Dangling references, self-edges
and cycles are left to :func:`planners.topology.build_topology`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from integrations.topology._text import close_match, describe, lookalike_warning
from planners.model import Action, HealthSpec, RollbackTarget, Service, ServiceKind, Tier
from planners.topology import Fragment, Problem, Severity

__all__ = ["FIELDS", "is_catalog", "load_catalog"]

FIELDS = (
    "name",
    "team",
    "owners",
    "tier",
    "kind",
    "depends_on",
    "rollback",
    "health",
    "estimated_seconds",
)
"""The fields a catalog entry may have; any other field is reported as a warning."""

_Model = TypeVar("_Model", RollbackTarget, HealthSpec)

_TIERS = [tier.value for tier in Tier]
_KINDS = [kind.value for kind in ServiceKind]
_ACTIONS = [action.value for action in Action]


class _Entry:
    """Collects the problems of one catalog entry while its fields are read."""

    def __init__(self, fragment: Fragment, *, service: str | None) -> None:
        self.fragment = fragment
        self.service = service

    def report(self, field: str | None, message: str, *, error: bool = True) -> None:
        self.fragment.problems.append(
            Problem(
                severity=Severity.ERROR if error else Severity.WARNING,
                source=self.fragment.origin,
                service=self.service,
                field=field,
                message=message,
            )
        )


def load_catalog(data: object, *, origin: str) -> Fragment:
    """Read one parsed catalog document.

    Args:
        data: the document, as ``yaml.safe_load`` or ``json.loads`` returned it.
        origin: where it came from (a file path), used in every problem.

    Returns:
        The services declared and every problem found.
    """
    fragment = Fragment(origin=origin)
    top = _Entry(fragment, service=None)
    if not isinstance(data, dict):
        top.report(
            None, f"a catalog must be a mapping with a 'services' list, got {describe(data)}"
        )
        return fragment
    for key in data:
        if key != "services":
            hint = close_match(str(key), ["services"])
            top.report(str(key), f"unknown top-level field{hint}; ignored", error=False)
    if "services" not in data:
        top.report("services", "no top-level 'services' list")
        return fragment
    entries = data["services"]
    if entries is None or entries == []:
        top.report("services", "declares no services", error=False)
        return fragment
    if not isinstance(entries, list):
        top.report("services", f"must be a list of services, got {describe(entries)}")
        return fragment
    first_index: dict[str, int] = {}
    for index, entry in enumerate(entries):
        service = _load_entry(entry, index=index, fragment=fragment, seen=first_index)
        if service is not None:
            fragment.services.append(service)
    return fragment


def _load_entry(
    entry: object, *, index: int, fragment: Fragment, seen: dict[str, int]
) -> Service | None:
    where = f"services[{index}]"
    if not isinstance(entry, dict):
        _Entry(fragment, service=None).report(
            None, f"{where} must be a mapping of fields, got {describe(entry)}; entry skipped"
        )
        return None
    name = _name(entry, where=where, fragment=fragment)
    if name is None:
        return None
    problems = _Entry(fragment, service=name)
    if name in seen:
        problems.report(
            "name",
            f"duplicate service: {where} declares it again (first at services[{seen[name]}]); "
            "the later entry is ignored",
        )
        return None
    seen[name] = index
    for key in entry:
        if key not in FIELDS:
            problems.report(
                str(key), f"unknown field{close_match(str(key), FIELDS)}; ignored", error=False
            )
    values: dict[str, Any] = {
        "name": name,
        "team": _optional_str(entry.get("team"), field="team", problems=problems),
        "owners": _str_list(entry.get("owners"), field="owners", problems=problems),
        "tier": _choice(
            entry.get("tier"), _TIERS, default=Tier.STANDARD.value, field="tier", problems=problems
        ),
        "kind": _choice(
            entry.get("kind"),
            _KINDS,
            default=ServiceKind.SERVICE.value,
            field="kind",
            problems=problems,
        ),
        "depends_on": _str_list(entry.get("depends_on"), field="depends_on", problems=problems),
        "rollback": _typed(
            entry.get("rollback"), RollbackTarget, field="rollback", problems=problems
        ),
        "health": _typed(entry.get("health"), HealthSpec, field="health", problems=problems),
        "estimated_seconds": _estimates(entry.get("estimated_seconds"), problems=problems),
    }
    values = {key: value for key, value in values.items() if value is not None}
    try:
        return Service(**values)
    except ValidationError as exc:  # a shape the checks above missed: still declare the name
        problems.report(None, f"invalid entry: {exc.errors()[0]['msg']}")
        return Service(name=name)


def _name(entry: dict[Any, Any], *, where: str, fragment: Fragment) -> str | None:
    problems = _Entry(fragment, service=None)
    if "name" not in entry:
        problems.report("name", f"{where} has no name; entry skipped")
        return None
    name = entry["name"]
    if not isinstance(name, str):
        problems.report("name", f"{where} name must be a string, got {describe(name)}; skipped")
        return None
    if not name.strip():
        problems.report("name", f"{where} has an empty name; entry skipped")
        return None
    odd = lookalike_warning(name)
    if odd is not None:
        _Entry(fragment, service=name).report("name", odd, error=False)
    return name


def _optional_str(value: object, *, field: str, problems: _Entry) -> str | None:
    if value is None or isinstance(value, str):
        return value
    problems.report(field, f"must be a string, got {describe(value)}; ignored")
    return None


def _str_list(value: object, *, field: str, problems: _Entry) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        problems.report(field, f"must be a list, not a string: write `{field}: [{value}]`; ignored")
        return None
    if not isinstance(value, list):
        problems.report(field, f"must be a list of names, got {describe(value)}; ignored")
        return None
    items: dict[str, None] = {}
    for position, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            problems.report(field, f"item {position} must be a name, got {describe(item)}")
        elif item in items:
            problems.report(field, f"lists {item!r} twice", error=False)
        else:
            odd = lookalike_warning(item)
            if odd is not None:
                problems.report(field, odd, error=False)
            items[item] = None
    return tuple(items)


def _choice(
    value: object, allowed: list[str], *, default: str, field: str, problems: _Entry
) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and value in allowed:
        return value
    hint = close_match(value, allowed) if isinstance(value, str) else ""
    problems.report(
        field,
        f"unknown {field} {describe(value)}{hint}; expected one of {', '.join(allowed)}; "
        f"using the default {default!r}",
    )
    return None


def _typed(value: object, model: type[_Model], *, field: str, problems: _Entry) -> _Model | None:
    """A ``rollback`` or ``health`` entry as its model; each wrong setting reported by path.

    An empty mapping is no entry. A wrong entry is ignored as a whole (the service gets none),
    so a half-read health check never passes for the one that was meant.
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.report(field, f"must be a mapping, got {describe(value)}; ignored")
        return None
    bad = [key for key in value if not isinstance(key, str)]
    if bad:
        problems.report(field, f"keys must be strings, got {describe(bad[0])}; ignored")
        return None
    if not value:
        return None
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        for error in exc.errors():
            path = _path(field, error["loc"], given=value)
            problems.report(path, f"{_reason(error, model=model)}; {field} ignored")
        return None


def _path(field: str, loc: tuple[int | str, ...], *, given: Mapping[str, Any]) -> str:
    """``health.prometheus[1].threshold``; a check given alone (not in a list) has no index."""
    path = field
    for position, part in enumerate(loc):
        if isinstance(part, int):
            if position == 1 and not isinstance(given.get(str(loc[0])), list):
                continue
            path += f"[{part}]"
        else:
            path += f".{part}"
    return path


def _reason(error: ErrorDetails, *, model: type[BaseModel]) -> str:
    if error["type"] == "extra_forbidden":
        key = str(error["loc"][-1])
        known = list(_fields_at(model, error["loc"][:-1]))
        return f"unknown setting{close_match(key, known)}; expected one of {', '.join(known)}"
    if error["type"] == "model_type":
        return f"must be a mapping, got {describe(error['input'])}"
    if error["type"] == "missing":
        return "is required"
    if error["type"] == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    message = str(error["msg"]).replace("Input should be", "must be", 1)
    return f"{message}, got {describe(error['input'])}"


def _fields_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> Iterable[str]:
    """The field names of the (nested) model that ``loc`` points into."""
    for part in loc:
        if isinstance(part, int):
            continue
        annotation = model.model_fields[part].annotation
        nested = next(
            (arg for arg in get_args(annotation) if isinstance(arg, type)),
            annotation,
        )
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            model = nested
    return model.model_fields


def _estimates(value: object, *, problems: _Entry) -> dict[Action, int] | None:
    field = "estimated_seconds"
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.report(field, f"must be a mapping of action to seconds, got {describe(value)}")
        return None
    estimates: dict[Action, int] = {}
    for key, seconds in value.items():
        if not isinstance(key, str) or key not in _ACTIONS:
            hint = close_match(key, _ACTIONS) if isinstance(key, str) else ""
            problems.report(
                field,
                f"unknown action {describe(key)}{hint}; expected one of {', '.join(_ACTIONS)}",
            )
        elif isinstance(seconds, bool) or not isinstance(seconds, int) or seconds <= 0:
            problems.report(
                field, f"{key} must be a positive whole number of seconds, got {describe(seconds)}"
            )
        else:
            estimates[Action(key)] = seconds
    return estimates


def is_catalog(data: Mapping[Any, Any]) -> bool:
    """Whether a parsed mapping looks like a catalog (a ``services`` key, or a typo of it)."""
    if "apiVersion" in data or "kind" in data:
        return False
    return "services" in data or any(
        isinstance(key, str) and close_match(key, ["services"], cutoff=0.85) for key in data
    )
