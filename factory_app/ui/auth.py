"""Operator credentials of the plant view: bearer tokens, kept only as SHA-256 digests.

The tokens file has one ``NAME sha256:HEX`` line per token (``#`` comments allowed); NAME
must be an ``operators:`` entry of the plant file, which says what that operator may act on.
``factory operator-token NAME`` makes a token and adds its line. Reading the file at each
check means a revoked line takes effect at once, without a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

_SCHEME = "sha256:"


def digest(token: str) -> str:
    return _SCHEME + hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(24)


def token_line(name: str, token: str) -> str:
    return f"{name} {digest(token)}\n"


def read_tokens(path: Path) -> list[tuple[str, str]]:
    """(name, digest) pairs of the file; a missing file holds none (every write is refused)."""
    if not path.exists():
        return []
    pairs = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, stored = line.partition(" ")
        if not stored.strip().startswith(_SCHEME):
            raise ValueError(f"{path}:{number}: expected 'NAME sha256:HEX'")
        pairs.append((name, stored.strip()))
    return pairs


def operator_for(authorization: str | None, path: Path) -> str | None:
    """The operator a ``Bearer TOKEN`` header authenticates, or None."""
    if not authorization or not authorization.startswith("Bearer "):
        return None
    presented = digest(authorization[len("Bearer "):].strip())
    found = None
    for name, stored in read_tokens(path):
        # Compared in constant time, and every line compared: the answer's timing says nothing.
        if hmac.compare_digest(presented, stored):
            found = name
    return found
