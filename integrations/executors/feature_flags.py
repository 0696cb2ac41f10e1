"""The feature-flag executor: turns a flag off through a flag service's HTTP API.

One of the executors of ``integrations/executors/`` behind :class:`integrations.base.Executor`,
built by the registry with :meth:`HttpFlagExecutor.from_config`. One generic adapter serves every
flag service: the request to send (URL template, method, JSON body template) and how to read the
flag's state back (``state_url`` and a ``state_path`` into the answer) are configuration, with
presets for Unleash's admin API and LaunchDarkly's semantic patch. Values substituted into a URL
are path-escaped; values substituted into a body go into parsed JSON strings, never into raw text.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from integrations.base import Operation, Outcome, Preview, TargetState
from integrations.errors import ConfigError, ConflictError, NotFoundError, UnavailableError
from integrations.http import make_client, raise_for_status, send
from planners.model import Action

__all__ = ["PRESETS", "HttpFlagExecutor"]

_NAME = "feature_flags"
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_SELECTOR = re.compile(r"^(\w*)\[(\w+)=([^\]]*)\]$")

PRESETS: Mapping[str, Mapping[str, Any]] = {
    "unleash": {
        "url": "/api/admin/projects/{project}/features/{flag}/environments/{environment}/off",
        "method": "POST",
        "state_url": "/api/admin/projects/{project}/features/{flag}",
        "state_path": "environments[name={environment}].enabled",
    },
    "launchdarkly": {
        "url": "/api/v2/flags/{project}/{flag}",
        "method": "PATCH",
        "content_type": "application/json; domain-model=launchdarkly.semanticpatch",
        "body": {
            "environmentKey": "{environment}",
            "comment": "Backout step {step_id}",
            "instructions": [{"kind": "turnFlagOff"}],
        },
        "state_url": "/api/v2/flags/{project}/{flag}",
        "state_path": "environments.{environment}.on",
        "headers": {"LD-API-Version": "20240415"},
    },
}
"""Request shapes of the flag services Backout knows; configuration keys override them."""


class HttpFlagExecutor:
    """Turns feature flags off with one configured HTTP request.

    Placeholders in ``url``, ``state_url``, ``state_path`` and ``body`` strings: ``{flag}``
    (``operation.flag``), ``{service}``, ``{step_id}``, ``{key}``, ``{base}`` (the client's base
    URL), ``{project}`` and ``{environment}`` (from the operation's params, else the executor's
    defaults), and any other string param of the operation.
    """

    kind: ClassVar[str] = "feature_flags"

    def __init__(
        self,
        *,
        client: httpx.Client,
        url: str,
        method: str = "POST",
        body: Any = None,
        content_type: str = "application/json",
        state_url: str | None = None,
        state_path: str | None = None,
        project: str = "default",
        environment: str = "production",
    ) -> None:
        if (state_url is None) != (state_path is None):
            raise ConfigError(
                "set both 'state_url' and 'state_path', or neither", integration=_NAME
            )
        self._client = client
        self._url = url
        self._method = method.upper()
        self._body = body
        self._content_type = content_type
        self._state_url = state_url
        self._state_path = state_path
        self._defaults = {"project": project, "environment": environment}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> HttpFlagExecutor:
        """Build from ``base_url``, optional ``preset`` (``unleash``, ``launchdarkly``), ``url``,
        ``method``, ``body``, ``content_type``, ``state_url``, ``state_path``, ``project``,
        ``environment``, ``timeout``, ``verify``, and the credentials: ``token`` (sent as the raw
        ``Authorization`` header, as Unleash and LaunchDarkly expect) or ``auth`` (``{type: bearer,
        token}``, ``{type: header, name, value}`` or ``{type: basic, username, password}``)."""
        preset_name = config.get("preset")
        if preset_name is not None and preset_name not in PRESETS:
            known = ", ".join(sorted(PRESETS))
            raise ConfigError(f"unknown flag preset {preset_name!r} ({known})", integration=_NAME)
        merged = {**(PRESETS[preset_name] if preset_name else {}), **config}
        base_url = merged.get("base_url")
        if not isinstance(base_url, str) or not base_url:
            raise ConfigError("feature_flags needs a 'base_url'", integration=_NAME)
        if not isinstance(merged.get("url"), str):
            raise ConfigError("feature_flags needs a 'url' (or a 'preset')", integration=_NAME)
        body = merged.get("body")
        if isinstance(body, str):
            try:
                body = json.loads(body)
            except ValueError as exc:
                raise ConfigError("feature_flags 'body' is not JSON", integration=_NAME) from exc
        extra = merged.get("headers") or {}
        if not isinstance(extra, Mapping):
            raise ConfigError("feature_flags 'headers' must be a mapping", integration=_NAME)
        client = make_client(
            base_url,
            timeout=float(merged.get("timeout", 10.0)),
            headers={**{str(k): str(v) for k, v in extra.items()}, **_auth_headers(merged)},
            verify=merged.get("verify", True),
        )
        return cls(
            client=client,
            url=merged["url"],
            method=str(merged.get("method", "POST")),
            body=body,
            content_type=str(merged.get("content_type", "application/json")),
            state_url=merged.get("state_url"),
            state_path=merged.get("state_path"),
            project=str(merged.get("project", "default")),
            environment=str(merged.get("environment", "production")),
        )

    def current_state(self, operation: Operation) -> TargetState:
        """Read the flag: at target when it is off. Without ``state_url``, never at target."""
        values = self._values(operation)
        on = self._read_on(values)
        if on is None:
            return TargetState(at_target=False, detail="no state_url configured: state unknown")
        state = "on" if on else "off"
        return TargetState(
            at_target=not on, current=state, detail=f"flag {values['flag']} is {state}"
        )

    def preview(self, operation: Operation) -> Preview:
        """Describe the request that would turn the flag off, touching nothing."""
        values = self._values(operation)
        on = self._read_on(values)
        where = f"flag {values['flag']} in {values['environment']}"
        if on is False:
            return Preview(summary=f"{where} is already off", already_done=True)
        request = self._request(values)
        return Preview(
            summary=f"turn {where} off",
            changes=(f"{request.method} {request.url.path}",),
        )

    def execute(self, operation: Operation) -> Outcome:
        """Send the request; when the state can be read, check that the flag is off."""
        values = self._values(operation)
        request = self._request(values)
        response = send(self._client, request, integration=_NAME)
        what = f"turning flag {values['flag']} off"
        if response.status_code == 403 and "SKIP_CHANGE_REQUEST" in response.text:
            raise ConflictError(
                f"{what}: environment {values['environment']} requires a change request; "
                "approve one in the flag service, or give Backout's token the "
                "SKIP_CHANGE_REQUEST permission",
                integration=_NAME,
            )
        raise_for_status(response, integration=_NAME, what=what)
        if self._read_on(values):
            raise UnavailableError(
                f"flag {values['flag']} is still on after the flag service accepted the request",
                integration=_NAME,
            )
        return Outcome(
            summary=f"flag {values['flag']} turned off in {values['environment']}",
            details={"flag": values["flag"], "status": response.status_code},
        )

    def _values(self, operation: Operation) -> dict[str, str]:
        if operation.action is not Action.DISABLE_FLAG:
            raise ConfigError(f"feature_flags cannot {operation.action.value}", integration=_NAME)
        if not operation.flag:
            raise ConfigError(
                f"step {operation.step_id} names no flag to disable", integration=_NAME
            )
        params = {k: str(v) for k, v in operation.params.items() if isinstance(v, str | int)}
        return {
            **self._defaults,
            **params,
            "flag": operation.flag,
            "service": operation.service,
            "step_id": operation.step_id,
            "key": operation.key,
            "base": str(self._client.base_url).rstrip("/"),
        }

    def _request(self, values: Mapping[str, str]) -> httpx.Request:
        url = _fill_url(self._url, values)
        if self._body is None:
            return self._client.build_request(self._method, url)
        content = json.dumps(_fill_json(self._body, values)).encode()
        headers = {"Content-Type": self._content_type}
        return self._client.build_request(self._method, url, content=content, headers=headers)

    def _read_on(self, values: Mapping[str, str]) -> bool | None:
        """Whether the flag is on, or None when no state URL is configured."""
        if self._state_url is None or self._state_path is None:
            return None
        request = self._client.build_request("GET", _fill_url(self._state_url, values))
        response = send(self._client, request, integration=_NAME)
        raise_for_status(response, integration=_NAME, what=f"flag {values['flag']}")
        try:
            data = response.json()
        except ValueError as exc:
            raise UnavailableError("the flag state is not JSON", integration=_NAME) from exc
        value = _walk(data, self._state_path, values)
        if not isinstance(value, bool):
            raise ConfigError(
                f"state_path {self._state_path!r} gives {value!r}, not true/false",
                integration=_NAME,
            )
        return value


def _fill(template: str, values: Mapping[str, str], *, escape: bool) -> str:
    """Replace ``{name}`` placeholders; unknown names are a configuration error."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise ConfigError(f"unknown placeholder {{{name}}} in {template!r}", integration=_NAME)
        value = values[name]
        return quote(value, safe="") if escape and name != "base" else value

    return _PLACEHOLDER.sub(replace, template)


def _fill_url(template: str, values: Mapping[str, str]) -> str:
    return _fill(template, values, escape=True)


def _fill_json(template: Any, values: Mapping[str, str]) -> Any:
    """Substitute into the string values of parsed JSON (keys and structure stay as configured)."""
    if isinstance(template, str):
        return _fill(template, values, escape=False)
    if isinstance(template, list):
        return [_fill_json(item, values) for item in template]
    if isinstance(template, dict):
        return {key: _fill_json(item, values) for key, item in template.items()}
    return template


def _walk(data: Any, path: str, values: Mapping[str, str]) -> Any:
    """Follow a dotted path: ``a.b`` keys, ``2`` list indexes, ``list[field=value]`` selections.
    Placeholders are filled after splitting, so a value containing dots stays one key."""
    node = data
    for raw in path.split("."):
        selector = _SELECTOR.match(raw)
        if selector:
            key, field, wanted = selector.groups()
            items = node.get(key) if key and isinstance(node, dict) else node
            wanted = _fill(wanted, values, escape=False)
            matches = [
                item
                for item in (items if isinstance(items, list) else [])
                if isinstance(item, dict) and str(item.get(field)) == wanted
            ]
            if not matches:
                raise NotFoundError(f"no {key or 'item'} with {field}={wanted}", integration=_NAME)
            node = matches[0]
            continue
        segment = _fill(raw, values, escape=False)
        if isinstance(node, dict) and segment in node:
            node = node[segment]
        elif isinstance(node, list) and segment.isdigit() and int(segment) < len(node):
            node = node[int(segment)]
        else:
            raise NotFoundError(f"the flag state has no {segment!r} ({path})", integration=_NAME)
    return node


def _auth_headers(config: Mapping[str, Any]) -> dict[str, str]:
    auth = config.get("auth")
    token = config.get("token")
    if auth is None:
        return {"Authorization": str(token)} if token else {}
    if not isinstance(auth, Mapping):
        raise ConfigError("feature_flags 'auth' must be a mapping", integration=_NAME)
    kind = auth.get("type")
    if kind == "bearer" and auth.get("token"):
        return {"Authorization": f"Bearer {auth['token']}"}
    if kind == "header" and auth.get("name") and auth.get("value") is not None:
        return {str(auth["name"]): str(auth["value"])}
    if kind == "basic" and auth.get("username") is not None:
        pair = f"{auth['username']}:{auth.get('password', '')}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    raise ConfigError(
        "feature_flags 'auth' is {type: bearer, token}, {type: header, name, value} "
        "or {type: basic, username, password}",
        integration=_NAME,
    )
