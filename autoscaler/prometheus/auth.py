"""How every request to Prometheus authenticates and verifies TLS, in one place."""

from __future__ import annotations

from pathlib import Path


def auth_headers(bearer_token_file: Path | None) -> dict[str, str]:
    """The bearer token read from its file (re-read by each caller, so a rotated token is
    picked up); never logged."""
    if bearer_token_file is None:
        return {}
    token = bearer_token_file.read_text(encoding="utf-8").strip()
    return {"Authorization": f"Bearer {token}"}


def tls_verify(ca_file: Path | None, verify_tls: bool) -> bool | str:
    """`requests`' verify: TLS verified by default; a private CA trusted only when given."""
    return str(ca_file) if ca_file else verify_tls
