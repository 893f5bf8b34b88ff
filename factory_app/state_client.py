"""Reading a running worker's state over its HTTP views."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class StateUnavailable(RuntimeError):
    """No worker answered at the given address."""


def fetch_json(base_url: str, path: str, timeout: float = 5.0) -> Any:
    """GET ``path`` from a worker and decode its JSON, error answers included (a 404 body, a 503 readiness)."""
    try:
        with urllib.request.urlopen(base_url.rstrip("/") + path, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        if exc.code not in (404, 503):
            raise StateUnavailable(f"{base_url}{path}: HTTP {exc.code}") from exc
        return json.loads(exc.read() or b"null")
    except (urllib.error.URLError, OSError) as exc:
        raise StateUnavailable(f"no worker answers at {base_url}: {exc}") from exc


def fetch_state(base_url: str, asset: str | None = None, timeout: float = 5.0) -> Any:
    """The asset state (one asset, or all the worker holds) from ``base_url``; None for an unknown asset."""
    path = f"/state/{urllib.parse.quote(asset, safe='')}/" if asset else "/state/"
    data = fetch_json(base_url, path, timeout)
    return None if isinstance(data, dict) and "error" in data and asset else data
