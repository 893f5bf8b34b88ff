"""A TCP link with latency, for tests: a real PLC behind a slow network.

Forwards loopback connections to ``target``; every chunk the server sends back is
delivered ``delay`` seconds late (order kept). Runs its own event loop in a thread.
"""

from __future__ import annotations

import asyncio
import threading

from factory_app.broker.node import free_port


class SlowLink:
    def __init__(self, target_port: int, delay: float):
        self.target_port = target_port
        self.delay = delay
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="slow-link")

    def __enter__(self) -> "SlowLink":
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("slow link did not start")
        return self

    def __exit__(self, *exc) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self._ready.set()
        async with server:
            await self._stop.wait()
        # The server is closed; close the connections it handed out.
        for task in [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]:
            task.cancel()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.close()
            return
        up = asyncio.create_task(self._pipe(client_r, server_w, lambda: 0.0))
        down = asyncio.create_task(self._pipe(server_r, client_w, lambda: self.delay))  # may change mid-test
        try:
            await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (up, down):
                task.cancel()
            for w in (client_w, server_w):
                w.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay) -> None:
        queue: asyncio.Queue = asyncio.Queue()
        loop = asyncio.get_running_loop()

        async def deliver() -> None:
            while True:
                due, chunk = await queue.get()
                await asyncio.sleep(max(0.0, due - loop.time()))  # the link's latency itself, not a wait
                if chunk is None:
                    return
                writer.write(chunk)
                await writer.drain()
        sender = asyncio.create_task(deliver())
        try:
            while chunk := await reader.read(65536):
                queue.put_nowait((loop.time() + delay(), chunk))
            queue.put_nowait((loop.time() + delay(), None))
            await sender
        finally:
            sender.cancel()
