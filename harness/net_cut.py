"""A loopback TCP relay a test can cut: a network partition between one process and the broker.

While cut, nothing crosses in either direction and new connections hang unanswered, as when
a switch drops a worker's packets: the peers' TCP connections stay open, their buffers
fill, requests time out on the clients' own clocks. Healing lets the held bytes through,
as TCP's retransmissions would. Only loopback addresses are used.
"""

from __future__ import annotations

import asyncio
import threading


class CutRelay:
    """Relay ``127.0.0.1:listen_port`` to ``127.0.0.1:target_port`` on its own thread and loop."""

    def __init__(self, listen_port: int, target_port: int):
        self.listen_port, self.target_port = listen_port, target_port
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="cut-relay", daemon=True)
        self._flowing: asyncio.Event | None = None
        self._server: asyncio.base_events.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()
        self.connections = 0  # accepted so far

    def _call(self, coro_fn, timeout: float = 10.0):
        return asyncio.run_coroutine_threadsafe(coro_fn(), self.loop).result(timeout)

    def start(self) -> "CutRelay":
        self._thread.start()

        async def serve():
            self._flowing = asyncio.Event()
            self._flowing.set()
            self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.listen_port)
        self._call(serve)
        return self

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._conns.add(client_w)
        try:
            await self._flowing.wait()  # a connection made while cut is not answered until healed
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.close()
            self._conns.discard(client_w)
            return
        self._conns.add(up_w)
        await asyncio.gather(self._pump(client_r, up_w), self._pump(up_r, client_w), return_exceptions=True)
        for w in (client_w, up_w):
            w.close()
            self._conns.discard(w)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await self._flowing.wait()
            data = await reader.read(65536)
            if not data:
                writer.write_eof() if writer.can_write_eof() else None
                return
            await self._flowing.wait()  # bytes read just before a cut are held, not delivered
            writer.write(data)
            await writer.drain()

    def cut(self) -> None:
        self.loop.call_soon_threadsafe(self._flowing.clear)

    def heal(self) -> None:
        self.loop.call_soon_threadsafe(self._flowing.set)

    def close(self) -> None:
        async def shutdown():
            self._flowing.set()
            if self._server is not None:
                self._server.close()
            for w in list(self._conns):
                w.close()
        try:
            self._call(shutdown)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
