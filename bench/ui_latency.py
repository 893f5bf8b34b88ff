"""Plant view update latency: an event appended -> its value visible in a real browser's page.

  python -m bench.ui_latency --probes 40

One worker and ``factory ui`` on a private broker; Debian's chromium (Playwright) shows the
overview. A probe appends a Telemetry event for oven-1's temperature with a value never
shown before; a MutationObserver in the page stamps the moment the tile shows it (the
page's clock and the producer's are this machine's one clock). Measured at idle and at
50 % load: first the worker's capacity is taken in this run (the drain rate of a burst of
telemetry from 1,000 other assets), then half of it flows from ``factory sample`` while the
probes run. Every figure is from this run; the ratio loaded/idle is the comparable one.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from bench.common import bench_broker, bench_settings, log_stderr, summary, write_result
from factory_app import events
from factory_app.broker.node import free_port
from factory_app.children import Child, wait_until
from factory_app.producer import new_producer
from factory_app.state_client import fetch_json
from harness.browser import chromium_browser
from harness.helpers import wait_ready

PROBE_ASSET, PROBE_TAG = "oven-1", "temperature"
LOAD_ASSETS = 1000

# Stamps the moment the probe's value is on the page (installed before the probe is appended).
WATCH = """(text) => {
  window.__seenAt = undefined;
  const shown = () => {
    const el = document.querySelector('#tile-oven-1 tr[data-tag=temperature] .value');
    return el !== null && el.textContent.startsWith(text);
  };
  const obs = new MutationObserver(() => {
    if (shown()) { window.__seenAt = performance.timeOrigin + performance.now(); obs.disconnect(); }
  });
  obs.observe(document.getElementById('main'), {subtree: true, childList: true, characterData: true});
}"""


async def _append(settings, evs: list[events.Telemetry]) -> float:
    """Append ``evs``; returns the wall time just before the last was sent."""
    producer = new_producer(settings, linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    try:
        futures = []
        for ev in evs[:-1]:
            futures.append(await producer.send(settings.topic(events.TELEMETRY), events.encode(ev),
                                               key=ev.asset_id.encode()))
        at = time.time()
        futures.append(await producer.send(settings.topic(events.TELEMETRY), events.encode(evs[-1]),
                                           key=evs[-1].asset_id.encode()))
        await asyncio.gather(*futures)
        return at
    finally:
        await producer.stop()


def append(settings, evs) -> float:
    with ThreadPoolExecutor(1) as pool:  # Playwright's loop holds this thread
        return pool.submit(asyncio.run, _append(settings, evs)).result(timeout=300)


def processed(settings) -> int:
    return fetch_json(f"http://127.0.0.1:{settings.web.port}", "/ready/")["events_processed"]


def capacity(settings, n: int, log) -> float:
    """Events/s the worker folds when a burst of ``n`` events waits for it."""
    now = time.time()
    burst = [events.Telemetry(event_id=uuid.uuid4().hex, asset_id=f"load-{i % LOAD_ASSETS:04d}", event_time=now,
                              tag=f"tag{i % 10}", value=float(i)) for i in range(n)]
    before = processed(settings)
    start = time.monotonic()
    append(settings, burst)

    def drained() -> bool:
        done = processed(settings) - before
        log(f"  capacity burst: {done:,}/{n:,} folded")
        return done >= n
    wait_until(drained, 600, interval=1.0, what="the burst folded")
    return n / (time.monotonic() - start)


def worker_shows(settings, value: float, timeout: float = 60.0) -> float | None:
    """When the worker's own view first shows ``value`` (asked every 20 ms), or None."""
    base = f"http://127.0.0.1:{settings.web.port}"
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            tag = fetch_json(base, f"/state/?assets={PROBE_ASSET}").get(PROBE_ASSET, {}).get("tags", {}).get(PROBE_TAG)
        except Exception:
            tag = None
        if tag is not None and tag["value"] == value:
            return time.time()
        time.sleep(0.02)
    return None


def probes(page, settings, count: int, first: int, log) -> tuple[list[float], list[float]]:
    """Per probe: append -> on the page, and append -> in the worker's own view (taken beside it)."""
    to_page, to_worker = [], []
    with ThreadPoolExecutor(1) as watcher:
        for k in range(first, first + count):
            value = 5000.0 + k + 0.25  # shown as "50xx.25": never on the page before
            page.evaluate(WATCH, f"{value:.2f}")
            in_worker = watcher.submit(worker_shows, settings, value)
            sent = append(settings, [events.Telemetry(event_id=uuid.uuid4().hex, asset_id=PROBE_ASSET,
                                                      event_time=time.time(), tag=PROBE_TAG, value=value)])
            page.wait_for_function("window.__seenAt !== undefined", timeout=60_000)
            to_page.append(page.evaluate("window.__seenAt") / 1000 - sent)
            seen = in_worker.result()
            if seen is not None:
                to_worker.append(seen - sent)
            if (k - first + 1) % 10 == 0:
                log(f"  probes {k - first + 1}/{count}: last {to_page[-1] * 1000:.0f} ms to the page")
            time.sleep(0.2)  # pacing between probes, not a wait for anything
    return to_page, to_worker


def measure(broker, root, n_probes: int, burst: int, log) -> dict:
    settings = bench_settings(broker, root, ui_port=free_port())
    logs = settings.home / "logs"
    worker = Child("worker", ["worker"], logs, env=settings.to_env())
    ui = Child("ui", ["ui"], logs, env=settings.to_env())
    load = None
    try:
        wait_ready(settings, 120, child=worker)
        base = f"http://127.0.0.1:{settings.web.ui_port}"
        append(settings, [events.Telemetry(event_id=uuid.uuid4().hex, asset_id=PROBE_ASSET, event_time=time.time(),
                                           tag=PROBE_TAG, value=1.0)])
        wait_until(lambda: _probe_asset_known(base), 120, what="the view showing oven-1", abort=lambda: not ui.alive())
        with chromium_browser() as browser:
            page = browser.new_page()
            page.goto(base + "/")
            page.wait_for_selector("#tile-oven-1 tr[data-tag=temperature] .value", timeout=60_000)
            log("idle: probing")
            idle, idle_worker = probes(page, settings, n_probes, 0, log)
            log(f"capacity: a burst of {burst:,} events")
            cap = capacity(settings, burst, log)
            rate = cap / 2
            log(f"capacity {cap:,.0f} ev/s; load {rate:,.0f} ev/s from {LOAD_ASSETS} assets while probing")
            load = Child("load", ["sample", "--assets", str(LOAD_ASSETS), "--rate", f"{rate:.0f}"], logs,
                         env=settings.to_env())
            time.sleep(5)  # the load reaches its rate before probes count (pacing, not a wait on a condition)
            before = processed(settings)
            t0 = time.monotonic()
            loaded, loaded_worker = probes(page, settings, n_probes, n_probes, log)
            achieved = (processed(settings) - before) / (time.monotonic() - t0)
    finally:
        for child in (load, ui, worker):
            if child is not None:
                child.stop()
    def ms(values: list[float]) -> dict:
        return {k: round(v * 1000, 1) if k != "n" else v for k, v in summary(values).items()}
    return {"probes": n_probes, "capacity_events_per_s": round(cap), "load_offered_events_per_s": round(rate),
            "load_folded_events_per_s": round(achieved),
            "idle": {"append_to_page_ms": ms(idle), "append_to_worker_view_ms": ms(idle_worker)},
            "half_load": {"append_to_page_ms": ms(loaded), "append_to_worker_view_ms": ms(loaded_worker)},
            "ratio_page_p50_half_load_over_idle": round(summary(loaded)["p50"] / summary(idle)["p50"], 2)}


def _probe_asset_known(base: str) -> bool:
    try:
        tiles = fetch_json(base, "/api/overview")["assets"]
    except Exception:
        return False
    return any(t["asset_id"] == PROBE_ASSET and t["worker"] for t in tiles)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--probes", type=int, default=40)
    ap.add_argument("--burst", type=int, default=40_000, help="events of the capacity burst")
    args = ap.parse_args()
    with bench_broker() as (broker, root):
        result = measure(broker, root, args.probes, args.burst, log_stderr)
    print(result)
    write_result("ui_latency", result)


if __name__ == "__main__":
    main()
