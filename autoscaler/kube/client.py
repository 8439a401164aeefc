"""Building the official client: kubeconfig or in-cluster service account, TLS verified.

TLS verification stays on unless the kubeconfig itself says `insecure-skip-tls-verify`
(the client honours that, as kubectl does); nothing here turns it off. Bearer tokens are
never logged: `describe()` reports the host and whether a token is set, not the token.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import urllib3
import yaml
from kubernetes import client, config

from autoscaler.errors import UsageError

# The loop owns retry and backoff: one quick retry for a stale keep-alive connection, no
# more (urllib3's default of 3 would multiply every timeout by four).
RETRIES = urllib3.Retry(total=1, connect=1, read=1, redirect=0, status=0, other=0)


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


def _connection(configuration: client.Configuration) -> Connection:
    configuration.retries = RETRIES
    token = (configuration.api_key or {}).get("authorization") or \
        (configuration.api_key or {}).get("BearerToken")
    return Connection(api_client=client.ApiClient(configuration),
                      host=str(configuration.host), verify_tls=bool(configuration.verify_ssl),
                      has_token=bool(token))
