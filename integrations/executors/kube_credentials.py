"""Credentials for the Kubernetes executor: an API URL and token, a kubeconfig, or in-cluster.

Part of ``integrations/executors/``; :meth:`KubernetesExecutor.from_config
<integrations.executors.kubernetes.KubernetesExecutor.from_config>` calls :func:`connection`,
which returns the server, the bearer token (a string, a token file re-read on every request, or
none when a client certificate authenticates), the TLS settings and the default namespace.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml

from integrations.errors import ConfigError

__all__ = ["Connection", "TokenFileAuth", "connection"]

_NAME = "kubernetes"
_SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
_Json = dict[str, Any]
_Tls = ssl.SSLContext | bool
Connection = tuple[str, str | Path | None, _Tls, str]
"""Server URL, token (or token file), TLS verification, default namespace."""


def connection(config: Mapping[str, Any]) -> Connection:
    """The connection the executor's configuration names (``kubeconfig``, ``in_cluster`` or
    ``api_url``). Raises ``ConfigError`` when unusable."""
    if config.get("kubeconfig"):
        return _read_kubeconfig(Path(str(config["kubeconfig"])).expanduser(), config.get("context"))
    if config.get("in_cluster"):
        return _in_cluster()
    if config.get("api_url"):
        token = config.get("token")
        tls = _tls(config.get("ca_file"), insecure=config.get("insecure"))
        return str(config["api_url"]), str(token) if token else None, tls, "default"
    raise ConfigError("set api_url, kubeconfig or in_cluster", integration=_NAME)


def _dig(obj: Any, *keys: str) -> _Json:
    for key in keys:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj if isinstance(obj, dict) else {}


class TokenFileAuth(httpx.Auth):
    """Reads a (rotated) service-account token file on every request."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        try:
            token = self._path.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read token {self._path}: {exc}", integration=_NAME) from exc
        request.headers["Authorization"] = f"Bearer {token}"
        yield request


def _tls(ca_file: Any, *, ca_data: Any = None, cert: Any = None, insecure: Any = False) -> _Tls:
    if insecure:
        return False
    if not (ca_file or ca_data or cert):
        return True
    try:
        context = ssl.create_default_context(cafile=ca_file or None, cadata=ca_data)
        if cert is not None:
            context.load_cert_chain(*cert)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise ConfigError(f"cannot load TLS files: {exc}", integration=_NAME) from exc
    return context


def _named(config: _Json, section: str, name: Any) -> _Json:
    for entry in config.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return _dig(entry, section.rstrip("s"))
    raise ConfigError(f"kubeconfig has no {section.rstrip('s')} named {name!r}", integration=_NAME)


def _read_kubeconfig(path: Path, context: Any) -> tuple[str, str | Path | None, _Tls, str]:
    """Server, token (or token file), TLS and namespace of a kubeconfig context."""
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read kubeconfig {path}: {exc}", integration=_NAME) from exc
    if not isinstance(config, dict):
        raise ConfigError(f"kubeconfig {path} is not a mapping", integration=_NAME)
    ctx = _named(config, "contexts", context or config.get("current-context"))
    cluster, user = _named(config, "clusters", ctx.get("cluster")), {}
    if ctx.get("user"):
        user = _named(config, "users", ctx.get("user"))
    if not cluster.get("server"):
        raise ConfigError(f"kubeconfig {path}: the cluster has no server", integration=_NAME)

    def local(key: str) -> str | None:  # paths in a kubeconfig are relative to it
        value = user.get(key) or cluster.get(key)
        return str(path.parent / str(value)) if value else None

    token: str | Path | None = user.get("token")
    if token is None and (token_file := local("tokenFile")):
        token = Path(token_file)
    ca_data = cluster.get("certificate-authority-data")
    with tempfile.TemporaryDirectory() as scratch:  # ssl loads client certs from files only
        files = {}
        for key in ("client-certificate", "client-key"):
            files[key] = local(key)
            if data := user.get(f"{key}-data"):
                written = Path(scratch, key)
                written.write_bytes(_b64(data, key, path))
                files[key] = str(written)
        cert_file, key_file = files["client-certificate"], files["client-key"]
        tls = _tls(
            local("certificate-authority"),
            ca_data=_b64(ca_data, "certificate-authority", path).decode() if ca_data else None,
            cert=(cert_file, key_file) if cert_file and key_file else None,
            insecure=bool(cluster.get("insecure-skip-tls-verify")),
        )
    if token is None and not (cert_file and key_file):
        raise ConfigError(
            f"kubeconfig {path}: user has no token or client certificate"
            " (exec and auth-provider plugins are not supported)",
            integration=_NAME,
        )
    return str(cluster["server"]), token, tls, str(ctx.get("namespace") or "default")


def _b64(value: Any, key: str, path: Path) -> bytes:
    try:
        return base64.b64decode("".join(str(value).split()), validate=True)
    except ValueError as exc:
        raise ConfigError(
            f"kubeconfig {path}: {key}-data is not base64", integration=_NAME
        ) from exc


def _in_cluster() -> tuple[str, Path, _Tls, str]:
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        raise ConfigError("in_cluster: KUBERNETES_SERVICE_HOST is not set", integration=_NAME)
    host = f"[{host}]" if ":" in host else host
    namespace_file = _SERVICE_ACCOUNT / "namespace"
    namespace = namespace_file.read_text().strip() if namespace_file.is_file() else "default"
    tls = _tls(str(_SERVICE_ACCOUNT / "ca.crt"))
    return f"https://{host}:{port}", _SERVICE_ACCOUNT / "token", tls, namespace
