"""A fake feature-flag service on the loopback base of :mod:`fakes.server`: the Unleash and
LaunchDarkly subsets Backout uses.

It stands in for the flag services in the "Real parts and their fakes" table of DESIGN.md: the
real :class:`integrations.executors.feature_flags.HttpFlagExecutor` talks to it. It serves
Unleash's Admin API (https://docs.getunleash.io/reference/api/unleash: ``GET
/api/admin/projects/{project}/features/{flag}`` and ``POST .../environments/{env}/on|off``) and
LaunchDarkly's REST API v2 (https://apidocs.launchdarkly.com/tag/Feature-flags: ``GET
/api/v2/flags/{project}/{flag}`` and a ``PATCH`` semantic patch, ``Content-Type:
application/json; domain-model=launchdarkly.semanticpatch`` with ``environmentKey`` and
``turnFlagOn``/``turnFlagOff`` instructions). Both dialects share one store of flags (project,
flag -> environment -> on), so turning a flag off through one API really changes what the next
read returns. Only the fields Backout reads are in the answers.

Failure states: 401 for a wrong ``Authorization`` value (both vendors take the key raw); Unleash's
403 ``PermissionError`` naming ``SKIP_CHANGE_REQUEST`` for a toggle in an environment with change
requests (``change_requests``, from ``stopWhenChangeRequestsEnabled`` in Unleash's
``feature-toggle-service.ts``); LaunchDarkly's 429 carries ``X-Ratelimit-Reset`` in epoch
milliseconds (https://apidocs.launchdarkly.com/#section/Overview/Rate-limiting), which a test
queues with ``fail_next(429, headers=...)``; requests record their headers, so tests see the
``LD-API-Version`` sent (https://apidocs.launchdarkly.com/#section/Overview/Versioning); 404 for
an unknown flag or Unleash environment (Unleash's ``NotFoundError`` body, LaunchDarkly's
``not_found``); 400 ``invalid_request`` for a LaunchDarkly patch that is not a semantic patch,
names an unknown environment or an unsupported instruction; 405 for other methods; and any
status a test queues with :meth:`FakeFlagService.fail_next`, optionally after a delay. The error
bodies follow the vendors' documented shapes in outline; their exact messages are not verified.
Requests are recorded with their raw (still escaped) path.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from fakes.server import Faults, Incoming, LoopbackServer, PrefixFaults, Reply

__all__ = ["SEMANTIC_PATCH", "FakeFlagService", "FlagRequest"]

SEMANTIC_PATCH = "domain-model=launchdarkly.semanticpatch"
"""What LaunchDarkly's content type must carry for a semantic patch."""


@dataclass(frozen=True)
class FlagRequest:
    """One recorded request: ``raw_path`` as sent, ``segments`` decoded one by one."""

    method: str
    raw_path: str
    segments: tuple[str, ...]
    query: dict[str, str]
    headers: dict[str, str]
    body: Any = None


class FakeFlagService(PrefixFaults, LoopbackServer):
    """Unleash's admin API and LaunchDarkly's flag API, over one in-memory flag store.

    Args:
        token: the value of ``Authorization`` it accepts (both vendors send the key raw).
    """

    methods = frozenset({"GET", "POST", "PATCH"})

    def __init__(
        self,
        *,
        token: str = "flags-token",  # noqa: S107 (a fake's test credential, not a secret)
    ) -> None:
        super().__init__()
        self.token = token
        self.requests: list[FlagRequest] = []
        self._flags: dict[tuple[str, str], dict[str, bool]] = {}
        self.change_requests: set[tuple[str, str]] = set()
        """Unleash ``(project, environment)`` pairs where changes need a change request."""
        self._faults = Faults()
        self._lock = threading.Lock()

    def add_flag(
        self,
        flag: str,
        *,
        project: str = "default",
        environments: Mapping[str, bool] | None = None,
    ) -> None:
        """Add a flag, on in ``production`` unless ``environments`` says otherwise."""
        with self._lock:
            self._flags[(project, flag)] = dict(environments or {"production": True})

    def is_on(
        self, flag: str, *, project: str = "default", environment: str = "production"
    ) -> bool:
        """Whether the flag is on in that environment."""
        with self._lock:
            return self._flags[(project, flag)][environment]

    def writes(self) -> list[FlagRequest]:
        """The recorded requests that were not GETs."""
        return [r for r in self.requests if r.method != "GET"]

    # Request handling, called from the handler threads.

    def _respond(self, incoming: Incoming) -> Reply:
        request = FlagRequest(
            method=incoming.method,
            raw_path=incoming.path,
            segments=tuple(unquote(s) for s in incoming.path.strip("/").split("/")),
            query=incoming.query,
            headers=incoming.headers,
            body=incoming.body,
        )
        with self._lock:
            self.requests.append(request)
            fault = self._faults.take(request.method, request.raw_path)
            if fault is not None:
                body = fault.body if fault.body is not None else {"message": "injected fault"}
                return Reply(fault.status, body, fault.headers, delay=fault.delay)
            if request.headers.get("authorization") != self.token:
                return Reply(401, {"message": "unauthorized: invalid token"})
            return Reply(*self._route(request))

    def _route(self, request: FlagRequest) -> tuple[int, Any]:
        seg = request.segments
        match seg:
            case ("api", "admin", "projects", project, "features", flag):
                if request.method == "GET":
                    return self._unleash_feature(project, flag)
            case ("api", "admin", "projects", project, "features", flag, "environments", env, op):
                if request.method == "POST" and op in ("on", "off"):
                    return self._unleash_toggle(project, flag, env, on=op == "on")
            case ("api", "v2", "flags", project, flag):
                if request.method == "GET":
                    return self._ld_flag(project, flag)
                if request.method == "PATCH":
                    return self._ld_patch(project, flag, request)
            case _:
                return 404, {"message": f"no route for {request.raw_path}"}
        return 405, {"message": f"{request.method} is not allowed here"}

    def _unleash_feature(self, project: str, flag: str) -> tuple[int, Any]:
        envs = self._flags.get((project, flag))
        if envs is None:
            return 404, _unleash_not_found(flag)
        environments = [{"name": n, "enabled": on, "type": n} for n, on in envs.items()]
        return 200, {"name": flag, "project": project, "environments": environments}

    def _unleash_toggle(self, project: str, flag: str, env: str, *, on: bool) -> tuple[int, Any]:
        envs = self._flags.get((project, flag))
        if envs is None:
            return 404, _unleash_not_found(flag)
        if env not in envs:
            return 404, {"name": "NotFoundError", "message": f"environment {env} not found"}
        if (project, env) in self.change_requests:
            return 403, _UNLEASH_CHANGE_REQUEST
        envs[env] = on
        return 200, {}

    def _ld_flag(self, project: str, flag: str) -> tuple[int, Any]:
        envs = self._flags.get((project, flag))
        if envs is None:
            return 404, {"code": "not_found", "message": "Unknown resource"}
        environments = {n: {"on": on, "_environmentName": n} for n, on in envs.items()}
        return 200, {"key": flag, "name": flag, "environments": environments}

    def _ld_patch(self, project: str, flag: str, request: FlagRequest) -> tuple[int, Any]:
        envs = self._flags.get((project, flag))
        if envs is None:
            return 404, {"code": "not_found", "message": "Unknown resource"}
        body = request.body if isinstance(request.body, dict) else {}
        if SEMANTIC_PATCH not in request.headers.get("content-type", ""):
            return 400, {"code": "invalid_request", "message": "expected a semantic patch"}
        env = body.get("environmentKey")
        if env not in envs:
            return 400, {"code": "invalid_request", "message": "unknown environmentKey"}
        for instruction in body.get("instructions") or []:
            kind = instruction.get("kind") if isinstance(instruction, dict) else None
            if kind not in ("turnFlagOff", "turnFlagOn"):
                return 400, {"code": "invalid_request", "message": f"unsupported kind {kind!r}"}
            envs[env] = kind == "turnFlagOn"
        return self._ld_flag(project, flag)


_UNLEASH_CHANGE_REQUEST = {
    "name": "PermissionError",
    "message": "You don't have the required permissions to perform this operation. To perform "
    'this action, you need the "SKIP_CHANGE_REQUEST" permission',
    "permission": "SKIP_CHANGE_REQUEST",
}
"""Unleash's answer to a direct change where change requests are on
(``stopWhenChangeRequestsEnabled`` in ``feature-toggle-service.ts`` throws
``PermissionError(SKIP_CHANGE_REQUEST)``)."""


def _unleash_not_found(flag: str) -> dict[str, str]:
    return {"name": "NotFoundError", "message": f"Could not find feature flag with name {flag}"}
