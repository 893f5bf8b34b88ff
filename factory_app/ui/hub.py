"""Server-sent events to every open page: one queue per page, bounded.

A page that cannot keep up (its queue full) is dropped; its browser's EventSource reconnects
by itself and starts again from a full snapshot, so a slow page never holds up the others.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any


class Hub:
    def __init__(self, queue_size: int = 1000):
        self._pages: set[asyncio.Queue] = set()
        self._size = queue_size

    def join(self) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(self._size)
        self._pages.add(queue)
        return queue

    def leave(self, queue: asyncio.Queue) -> None:
        self._pages.discard(queue)

    def joined(self, queue: asyncio.Queue) -> bool:
        return queue in self._pages

    @property
    def pages(self) -> int:
        return len(self._pages)

    def publish(self, kind: str, data: Any) -> None:
        message = sse(kind, data)
        for queue in list(self._pages):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                self._pages.discard(queue)  # its writer sees it dropped (``joined``) and ends the stream


def sse(kind: str, data: Any) -> bytes:
    """One server-sent event (``event:`` name, JSON ``data:``)."""
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()
