"""A kubeconfig pointing at the fake server, loadable by `kubernetes.config.load_kube_config`.

Plain http to 127.0.0.1: the fake does not serve TLS. The product verifies TLS by default;
that is configured and tested separately.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def kubeconfig(url: str, namespace: str = "default", token: str | None = None) -> dict[str, Any]:
    user: dict[str, Any] = {"token": token} if token else {}
    return {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": "fake", "cluster": {"server": url}}],
        "users": [{"name": "fake", "user": user}],
        "contexts": [{"name": "fake",
                      "context": {"cluster": "fake", "user": "fake", "namespace": namespace}}],
        "current-context": "fake",
    }


def write_kubeconfig(path: str | Path, url: str, namespace: str = "default",
                     token: str | None = None) -> Path:
    """Write the kubeconfig as JSON (a YAML subset, so every kubeconfig reader accepts it)."""
    target = Path(path)
    target.write_text(json.dumps(kubeconfig(url, namespace, token), indent=2) + "\n")
    return target
