"""Credentials for the Kubernetes executor: an API URL and token, a kubeconfig, or in-cluster.

Part of ``integrations/executors/``; :meth:`KubernetesExecutor.from_config
<integrations.executors.kubernetes.KubernetesExecutor.from_config>` calls :func:`connection`,
which returns the server, the credentials (a bearer token, a token file re-read on every
request, an ``httpx.Auth`` such as a kubeconfig ``exec`` plugin's, or none when a client
certificate authenticates), the TLS settings and the default namespace. Kubeconfig files are read
by lightkube's configuration layer (``lightkube.config``), not by a parser of our own.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import Any

import httpx
from lightkube.config import client_adapter
from lightkube.config.kubeconfig import KubeConfig
from lightkube.core.exceptions import ConfigError as LightkubeConfigError

from integrations.errors import ConfigError

__all__ = ["Connection", "TokenFileAuth", "connection"]

_NAME = "kubernetes"
_SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
_Json = dict[str, Any]
_Tls = ssl.SSLContext | bool
Connection = tuple[str, str | Path | httpx.Auth | None, _Tls, str]
"""Server URL, credentials (a token, a token file, or an auth such as an exec plugin's), TLS
verification, default namespace."""


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


def _read_kubeconfig(path: Path, context: Any) -> Connection:
    """Server, credentials, TLS and namespace of a kubeconfig context, read by lightkube's
    configuration layer: tokens, token files, client certificates, basic auth, and ``exec``
    plugins (EKS ``aws eks get-token``, GKE ``gke-gcloud-auth-plugin``, AKS ``kubelogin``), whose
    command runs when a token is first needed and again on a 401."""
    try:
        single = KubeConfig.from_file(path).get(context_name=str(context) if context else None)
        if single is None:
            raise ConfigError(f"kubeconfig {path}: no context to use", integration=_NAME)
        user = single.user
        ways = ("token", "token_file", "exec", "username", "client_cert", "client_cert_data")
        if user is None or not any(getattr(user, way) for way in ways):
            raise ConfigError(
                f"kubeconfig {path}: the user has no token, exec plugin or client certificate",
                integration=_NAME,
            )
        tls = client_adapter.verify_cluster(single.cluster, user, single.abs_file, trust_env=False)
        auth: str | Path | httpx.Auth | None
        if user.token_file:  # relative to the kubeconfig, re-read on every request (rotation)
            auth = Path(str(single.abs_file(user.token_file)))
        else:
            auth = client_adapter.user_auth(user)
    except ConfigError:
        raise
    except (LightkubeConfigError, OSError, ssl.SSLError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"cannot use kubeconfig {path}: {exc}", integration=_NAME) from exc
    return single.cluster.server, auth, tls, single.namespace or "default"


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
