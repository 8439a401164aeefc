"""Building the official client: kubeconfig or in-cluster service account, TLS verified.

TLS verification stays on unless the kubeconfig itself says `insecure-skip-tls-verify`
(the client honours that, as kubectl does); nothing here turns it off. Bearer tokens are
never logged: `describe()` reports the host and whether a token is set, not the token.
`tls_with_token` is the KubeEdge MetaServer with `requireAuthorization`: HTTPS verified
with a given CA, the pod's service-account token re-read from its file for every request
(the kubelet rotates projected tokens by swapping the file).
"""

from __future__ import annotations

import os
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

import structlog
import urllib3
import yaml
from kubernetes import client, config

from autoscaler.errors import UsageError

# The loop owns retry and backoff: one quick retry for a stale keep-alive connection, no
# more (urllib3's default of 3 would multiply every timeout by four).
RETRIES = urllib3.Retry(total=1, connect=1, read=1, redirect=0, status=0, other=0)
# Where the kubelet mounts a pod's service account (automountServiceAccountToken).
SERVICE_ACCOUNT_CA = Path("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")
SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")

log = structlog.get_logger("autoscaler.kube")


@dataclass(frozen=True)
class Connection:
    api_client: client.ApiClient
    host: str
    verify_tls: bool
    has_token: bool

    def describe(self) -> str:
        if self.host.startswith("http://"):
            tls = "plain HTTP, no TLS"
        else:
            tls = f"TLS {'verified' if self.verify_tls else 'NOT verified'}"
        return f"{self.host} ({tls}, {'bearer token' if self.has_token else 'no token'})"


def connect(kubeconfig: str | None = None, context: str | None = None,
            in_cluster: bool | None = None) -> Connection:
    """`in_cluster=None` tries the service account first, then the kubeconfig. A missing or
    unusable configuration is a `UsageError` saying what to pass."""
    configuration = client.Configuration()
    if in_cluster is not False:
        try:
            config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration)
            return _connection(configuration)
        except config.ConfigException as exc:
            if in_cluster:
                raise UsageError(f"not running in a cluster: {exc}") from exc
    path = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
    if kubeconfig is None and not Path(path.split(os.pathsep)[0]).expanduser().exists():
        raise UsageError(f"no kubeconfig at {path} and not in a cluster: pass --kubeconfig")
    try:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, context=context, client_configuration=configuration)
    except (config.ConfigException, OSError, ValueError, TypeError, KeyError,
            AttributeError, yaml.YAMLError) as exc:
        raise UsageError(f"kubeconfig {path}: cannot use it: {type(exc).__name__}: "
                         f"{str(exc)[:200]}: pass a valid --kubeconfig (and --context)"
                         ) from exc
    return _connection(configuration)


def plain_http(host: str) -> Connection:
    """A node-local endpoint without credentials (the KubeEdge MetaServer on 127.0.0.1)."""
    configuration = client.Configuration()
    configuration.host = host
    return _connection(configuration)


def tls_with_token(host: str, ca_file: Path, token_file: Path) -> Connection:
    """An HTTPS endpoint whose certificate must verify against `ca_file` (always: there is
    no way to turn verification off here), authenticated with the bearer token of
    `token_file`. Both files are checked now: a missing, unreadable or empty one is a
    `UsageError` naming it (never quoting the token)."""
    try:
        ssl.create_default_context(cafile=str(ca_file))  # what urllib3 will load
    except ssl.SSLError as exc:
        raise UsageError(f"CA file {ca_file}: cannot use it: no PEM certificate in it "
                         f"({exc.reason or exc})") from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise UsageError(f"CA file {ca_file}: cannot use it: {type(exc).__name__}: {reason}"
                         ) from None
    token = TokenFile(token_file)
    configuration = client.Configuration()
    configuration.host = host
    configuration.verify_ssl = True
    configuration.ssl_ca_cert = str(ca_file)
    configuration.api_key_prefix["BearerToken"] = "Bearer"
    configuration.api_key["BearerToken"] = token.current
    configuration.refresh_api_key_hook = token.refresh  # type: ignore[assignment]
    return _connection(configuration)


class TokenFile:
    """A bearer token file, re-read before every request (the client's refresh hook): a
    rotated token is used from the next request on. If a re-read fails (the file briefly
    missing, or empty), the last good token is kept and the failure logged once; the first
    read must succeed. The token itself is never logged nor put in an error."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._failing = False
        token, problem = self._read()
        if token is None:
            raise UsageError(f"token file {path}: cannot use it: {problem}")
        self.current = token

    def refresh(self, configuration: client.Configuration) -> None:
        token, problem = self._read()
        with self._lock:
            if token is not None:
                self.current, self._failing = token, False
            elif not self._failing:
                self._failing = True
                log.warning("token file unreadable: keeping the previous token",
                            path=str(self.path), error=problem)
            configuration.api_key["BearerToken"] = self.current

    def _read(self) -> tuple[str | None, str]:
        try:
            token = self.path.read_text(encoding="utf-8").strip()
        except UnicodeDecodeError:
            return None, "not UTF-8 text"
        except OSError as exc:
            return None, f"{type(exc).__name__}: {exc.strerror or exc}"
        return (token, "") if token else (None, "the file is empty")


def _connection(configuration: client.Configuration) -> Connection:
    configuration.retries = RETRIES
    token = (configuration.api_key or {}).get("authorization") or \
        (configuration.api_key or {}).get("BearerToken")
    return Connection(api_client=client.ApiClient(configuration),
                      host=str(configuration.host), verify_tls=bool(configuration.verify_ssl),
                      has_token=bool(token))
