"""Edge to cloud on real parts: two site clusters with their simulated plants, a central cluster,
Apache Kafka's MirrorMaker 2 between them (exactly-once by default), a central worker per site.

The mirror is SIGKILLed several times and the central broker stopped for a while during the
run. Afterwards every site record is on the central cluster once, in the site's order per
partition, and the central tables equal an independent fold of each site's log and the site's
own tables. The site's control loop keeps running with the centre down. At-least-once
(FACTORY_MIRROR_AT_LEAST_ONCE=1): re-sent copies come only after their originals, and the
central tables, which skip copies by event id, are compared when every re-sent run was within
the folds' horizon (a run after a central outage can be longer: the reason for the default).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest
import yaml

from factory_app.broker.node import free_port
from factory_app.children import Child, stop_together, wait_until
from factory_app.mirror.central import central_settings
from factory_app.mirror.fleet import read_fleet
from factory_app.mirror.process import MirrorMaker
from factory_app.mirror.sites import load_sites
from factory_app.mirror.status import mirror_status, render
from harness import reference_fold as ref
from harness.helpers import caught_up, log_text, read_topic, table_dump, wait_ready
from harness.plant import Plant, make_settings, only_assets, wait_plcs_ready
from tests.conftest import JAR_HOME, LONG_TESTS, started_broker

pytestmark = pytest.mark.integration

# The scenario kills the mirror 5 times (FACTORY_LONG_TESTS=1); the default suite once (its time budget).
MIRROR_KILLS = 5 if LONG_TESTS else 1
MIRRORED = ("telemetry", "commands", "command-results")
# MirrorMaker's exactly-once source mode, the default; FACTORY_MIRROR_AT_LEAST_ONCE=1 runs the
# scenario at-least-once (the central folds then skip copies by event id, within their horizon).
EXACTLY_ONCE = os.environ.get("FACTORY_MIRROR_AT_LEAST_ONCE") != "1"
PERIOD_S = 10.0


def write_sites(path, central_bootstrap, sites):
    doc = {"central": {"bootstrap": central_bootstrap},
           "sites": [{"name": name, "bootstrap": s.kafka.bootstrap, "topic_prefix": s.kafka.topic_prefix,
                      "plant": str(s.plant_config), "central_web_port": free_port(),
                      # Short periods, all kept: a run spans many, each compared below.
                      "fold_settings": {"kpi_period_seconds": PERIOD_S, "kpi_periods": 1000}}
                     for name, s in sites.items()],
           "mirror": {"commit_interval_ms": 1000, "exactly_once": EXACTLY_ONCE}}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_sites(path)


def once(records: list) -> list:
    """``records`` without repeats, in the order of their first appearance."""
    seen: set = set()
    return [r for r in records if not (r in seen or seen.add(r))]


def resent_runs(records: list) -> list[int]:
    """Lengths of the runs of copies in one central partition (a re-sent run follows its originals)."""
    seen: set = set()
    runs: list[int] = []
    previous_was_copy = False
    for r in records:
        copy = (r.key, r.value) in seen
        if copy:
            if previous_was_copy:
                runs[-1] += 1
            else:
                runs.append(1)
        seen.add((r.key, r.value))
        previous_was_copy = copy
    return runs


def fold_kpi_periods(records_by_partition: dict, plant, settings) -> dict:
    """The site's own telemetry log through the kpi-periods step (site offsets, no copies)."""
    from agents.kpi_periods import step
    from factory_app import events

    facts = {a.id: a.production for a in plant.assets}
    table: dict = {}
    for records in records_by_partition.values():
        for r in records:
            try:
                event = events.decode_keyed(r.key, r.value, (events.Telemetry, events.StateTransition))
            except events.DecodeFailure:
                continue
            step(table, event, facts.get(event.asset_id), settings.worker.kpi_period_seconds,
                 settings.worker.kpi_periods, offset=r.offset, horizon=settings.worker.dedup_horizon)
    return without_bookkeeping(table)


def without_bookkeeping(table: dict) -> dict:
    from tables.values import without_bookkeeping as strip

    return {k: strip(v) for k, v in table.items()}


def mirrored(config) -> dict[str, int]:
    """Site -> site records mirrored so far (per the offset syncs on the central cluster)."""
    return {s.site: s.as_dict()["mirrored"] for s in asyncio.run(mirror_status(config, timeout=5))}


def writer_metric(settings, name: str) -> dict[float, float] | float:
    from bench.soak import latency_buckets

    url = f"http://127.0.0.1:{settings.web.writer_metrics_port}/metrics"
    if name == "buckets":
        return latency_buckets(url)
    from bench.soak import metric_samples
    return sum(s.value for s in metric_samples(url) if s.name == "factory_command_results_total"
               and s.labels.get("status") == "applied")


@pytest.fixture(scope="module")
def edge(kafka, tmp_path_factory):
    """Site plant-a on the session broker (sim, ingest, worker, writer), site plant-b on its own
    broker (sim, ingest: two assets), a central broker; nothing mirrored yet."""
    root = tmp_path_factory.mktemp("edge")
    brokers = []
    plants: list[Plant] = []
    try:
        brokers.append(started_broker(root / "plant-b-broker"))
        brokers.append(started_broker(root / "central-broker"))
        site_b_broker, central = brokers
        for name in ("plant-a", "plant-b"):
            (root / name).mkdir()
        a = make_settings(kafka.cfg.bootstrap, root / "plant-a")
        b = make_settings(site_b_broker.cfg.bootstrap, root / "plant-b", edit=only_assets("oven-1", "press-1"))
        from factory_app.config import load_plant
        plants = [Plant(a, load_plant(a.plant_config)), Plant(b, load_plant(b.plant_config))]
        plants[0].start("sim", "ingest", "worker", "writer")
        plants[1].start("sim", "ingest")
        for plant in plants:
            wait_plcs_ready(plant)
        wait_ready(a, child=plants[0].children["worker"])
        config = write_sites(root / "sites.yaml", central.cfg.bootstrap, {"plant-a": a, "plant-b": b})
        yield {"root": root, "central": central, "config": config, "plants": plants, "sites_file": root / "sites.yaml"}
    finally:
        for plant in plants:
            plant.stop()
        for broker in brokers:
            broker.stop(timeout=20)


# A hang guard, not a time limit: recovering from a hanging transaction after the outage takes
# the supervisor's confirmation time (85 s) on top of the scenario's usual 2-3 minutes.
@pytest.mark.timeout(600)
def test_sites_mirrored_through_kills_and_a_central_outage(edge, children):
    config, central = edge["config"], edge["central"]
    site_a, site_b = (p.settings for p in edge["plants"])
    # The mirror as deployed: `factory mirror run` (MirrorMaker under its supervisor).
    mirror = MirrorMaker(config, edge["root"] / "mirror", JAR_HOME)  # its pid file, to kill it by
    mirror_env = {**site_a.to_env(), "FACTORY_HOME": str(edge["root"]), "FACTORY_KAFKA_JARS": str(JAR_HOME)}
    views = {name: central_settings(site.updated({"home": str(edge["root"] / f"central-{name}")}), config, name)
             for name, site in (("plant-a", site_a), ("plant-b", site_b))}
    supervisor = Child("mirror", ["mirror", "run", "--sites", str(edge["sites_file"]), "--metrics-port",
                                  str(free_port()), "--stall-timeout", "60"], edge["root"] / "logs", env=mirror_env)
    children.append(supervisor)
    try:
        for name, view in views.items():
            children.append(Child(f"central-{name}", ["worker"], view.home / "logs", env=view.to_env()))
        for (name, view), child in zip(views.items(), children[1:]):
            wait_ready(view, child=child)
        wait_until(lambda: all(n > 0 for n in mirrored(config).values()), 180, interval=1,
                   what="both sites' records mirrored centrally")

        # SIGKILL MirrorMaker (no offsets committed, a transaction open); its supervisor starts
        # a new one, which must resume and make progress for every site.
        for _ in range(MIRROR_KILLS):
            wait_until(lambda: mirror.pid() is not None, 120, what="MirrorMaker running")
            killed = mirror.pid()
            before = mirrored(config)
            assert mirror.stop(kill=True)
            wait_until(lambda: mirror.pid() not in (None, killed), 120, what="the supervisor restarting MirrorMaker")
            wait_until(lambda: all(n > before[s] for s, n in mirrored(config).items()), 180, interval=1,
                       what="the restarted mirror making progress for every site")

        # The central cluster down: the site's loop must not notice.
        up_buckets = writer_metric(site_a, "buckets")
        applied = writer_metric(site_a, "applied")
        central.stop()
        try:
            wait_until(lambda: writer_metric(site_a, "applied") >= applied + 3, 180, interval=0.5,
                       what="site plant-a applying commands with the central cluster down")
            down_buckets = writer_metric(site_a, "buckets")
        finally:
            central.start(timeout=120)
        from bench.soak import interval_quantile
        latency = {"link_up_p50_s": interval_quantile({}, up_buckets, 0.5),
                   "link_up_p99_s": interval_quantile({}, up_buckets, 0.99),
                   "central_down_p50_s": interval_quantile(up_buckets, down_buckets, 0.5),
                   "central_down_p99_s": interval_quantile(up_buckets, down_buckets, 0.99)}
        print("site plant-a control loop latency (bucket bounds):", json.dumps(latency))
        assert latency["central_down_p50_s"] is not None

        # Freeze both sites' logs, then everything must arrive centrally, once.
        # The site's worker stays: its tables are compared below.
        stop_together([child for plant in edge["plants"] for role, child in plant.children.items() if role != "worker"],
                      timeout=15)
        wait_until(lambda: caught_up(site_a), 120, interval=1, what="site plant-a's worker caught up")
        last: list = []

        def mirror_caught_up() -> bool:
            last[:] = asyncio.run(mirror_status(config))
            return all(s.reachable and s.lag == 0 for s in last)
        try:
            wait_until(mirror_caught_up, 300, interval=1, what="the mirror caught up with both sites")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}; last status:\n{render(last)}\nmirror log: {mirror.files.log_file}") from None
        for view in views.values():
            # Commits, too: after the outage's aborted transactions, a worker whose commits
            # stopped at a gap (fixed: factory_app.partition_batches) never got here.
            wait_until(lambda: caught_up(view, MIRRORED), 180, interval=1, what=f"{view.worker.app_id} caught up")

        copies = longest = 0
        for (name, site), plant in zip((("plant-a", site_a), ("plant-b", site_b)), edge["plants"]):
            view = views[name]
            site_longest = 0
            for topic in MIRRORED:
                here = asyncio.run(read_topic(site, topic))
                there = asyncio.run(read_topic(view, topic))
                # Every site record centrally, in the site's order per partition; a copy re-sent
                # after a kill comes later than its original and is the only difference.
                firsts = {p: once([(r.key, r.value) for r in recs]) for p, recs in there.items() if recs}
                assert firsts == {p: [(r.key, r.value) for r in recs] for p, recs in here.items() if recs}, (name, topic)
                copies += sum(map(len, there.values())) - sum(map(len, firsts.values()))
                site_longest = max([site_longest, *(run for recs in there.values() for run in resent_runs(recs))])
            longest = max(longest, site_longest)
            if site_longest > config.mirror.dedup_horizon:  # at-least-once only: beyond what the folds remember
                print(f"{name}: a re-sent run of {site_longest} records exceeds the folds' horizon "
                      f"({config.mirror.dedup_horizon}); central tables not compared")
                continue
            # The central tables skip the copies: they equal an independent fold of the site's log.
            telemetry = asyncio.run(read_topic(site, "telemetry"))
            assert sum(map(len, telemetry.values())) > 0
            assert ref.projection_state(table_dump(view, "asset_state")) == ref.fold_state(telemetry), name
            periods = without_bookkeeping(table_dump(view, "kpi_periods"))
            assert periods == fold_kpi_periods(telemetry, plant.config, view), name
            assert max(len(e["periods"]) for e in periods.values()) > 2, name  # the run spans several periods
        print(f"records mirrored more than once (re-sent after kills): {copies}; longest re-sent run: {longest}")
        if EXACTLY_ONCE and "aborted a hanging transaction" in log_text(supervisor):
            # The supervisor aborted a transaction left hanging by the outage; when its
            # coordinator still commits the records' half, they come again (docs/edge-to-cloud.md):
            # never more than the folds skip, and the tables above equal the site's folds.
            print("the supervisor aborted a hanging transaction; copies allowed within the horizon")
            assert longest <= config.mirror.dedup_horizon
        elif EXACTLY_ONCE:
            assert copies == 0  # a killed mirror's open transaction is aborted: read committed, nothing twice
        # The central command ledger equals the site's own (both folds of the same commands).
        assert table_dump(views["plant-a"], "command_ledger") == table_dump(site_a, "command_ledger")
        assert table_dump(views["plant-a"], "command_ledger"), "site plant-a issued no command"
        # The fleet across sites: each site's assets with their site, presses' KPIs over both sites.
        fleet = read_fleet(config)
        assert not fleet["unreachable"]
        assert {(r["site"], r["asset"]) for r in fleet["assets"]} == \
            {("plant-a", a.id) for a in edge["plants"][0].config.assets} | {("plant-b", "oven-1"), ("plant-b", "press-1")}
        assert fleet["indicators"]["*"]["press"]["assets"] == 3  # press-1, press-2 at plant-a; press-1 at plant-b
        # Per period: the presses of both sites rated together, and every command of plant-a's
        # ledger counted once in the period it was issued in.
        rows = fleet["periods"]
        assert max(r["assets"] for r in rows if (r["site"], r["type"]) == ("*", "press")) == 3
        assert any(r["oee"] is not None for r in rows if r["site"] == "*")
        ledger = table_dump(views["plant-a"], "command_ledger")
        assert sum(sum(r["commands"].values()) for r in rows if r["site"] == "plant-a") == \
            sum(1 for e in ledger.values() if e.get("asset_id"))
        check_fleet_page(edge, children)
        print(log_text(supervisor)[-2000:])
    finally:
        supervisor.stop(timeout=30)
        mirror.stop()


def check_fleet_page(edge, children) -> None:
    """`factory fleet --serve` in Debian's chromium: the newest period's rows and every asset
    with its site, as the central workers answer (the sites are frozen: nothing changes)."""
    from harness.browser import chromium_browser
    from harness.helpers import get_json

    port = free_port()
    env = {**os.environ, **edge["plants"][0].settings.to_env(), "FACTORY_SITES": str(edge["sites_file"])}
    server = Child("fleet-page", ["fleet", "--serve", "--port", str(port), "--refresh", "1"], edge["root"] / "logs",
                   env=env)
    children.append(server)
    base = f"http://127.0.0.1:{port}"
    def first_reading():
        answer = get_json(f"{base}/api/fleet")
        return answer if answer.get("read_at") else None
    doc = wait_until(first_reading, 60, interval=0.5, what="the fleet page's first reading",
                     abort=lambda: None if server.alive() else server.last_lines())
    newest = max(r["start"] for r in doc["periods"])
    want = sorted((r["site"], r["type"], str(r["assets"]), "-" if r["oee"] is None else f"{r['oee']:.3f}")
                  for r in doc["periods"] if r["start"] == newest)
    with chromium_browser() as browser:
        page = browser.new_page()
        page.goto(f"{base}/fleet")
        page.wait_for_selector("body[data-loaded=yes]", timeout=60_000)
        shown = sorted(tuple(page.locator(f"#periods tbody tr:nth-child({i + 1}) td").all_inner_texts()[j]
                             for j in (0, 1, 2, 6)) for i in range(page.locator("#periods tbody tr").count()))
        assert shown == want
        sites = page.locator("#assets tbody tr").evaluate_all("rows => rows.map(r => r.dataset.site)")
        assert sorted(set(sites)) == ["plant-a", "plant-b"] and len(sites) == len(doc["assets"])
        assert page.locator("#unreachable").inner_text() == ""
    server.stop(timeout=10)


def test_verify_and_status_from_the_cli(edge):
    """`factory verify --site` and `factory mirror status` against the same clusters (run after
    the scenario above: its logs are the central state to verify)."""
    env = {**os.environ, **edge["plants"][0].settings.to_env(), "FACTORY_SITES": str(edge["sites_file"]),
           "FACTORY_HOME": str(edge["root"] / "cli-home")}
    verify = subprocess.run([sys.executable, "-m", "factory_app", "verify", "--site", "plant-a", "asset_state"],
                            env=env, capture_output=True, text=True, timeout=300)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    status = subprocess.run([sys.executable, "-m", "factory_app", "mirror", "status", "--json"],
                            env=env, capture_output=True, text=True, timeout=120)
    doc = json.loads(status.stdout)
    assert doc["running"] is False and status.returncode == 1  # the scenario stopped its mirror
    assert {s["site"]: s["lag"] for s in doc["sites"]} == {"plant-a": 0, "plant-b": 0}


def test_backfill_of_a_sites_mirror_under_its_own_group_and_tables(edge):
    """Issue 29, item 12: `factory backfill --site` gave its worker only part of the environment,
    so it folded the site's own cluster and the command waited for ever (with FACTORY_SITE set,
    it joined the live central group instead). Now it folds the site's mirror centrally under a
    group and tables of its own, and ends once caught up."""
    from factory_app.kafka_clients import record_ends
    from factory_app.replay.groups import committed_offsets

    site_a = edge["plants"][0].settings
    env = {**os.environ, **site_a.to_env(), "FACTORY_SITES": str(edge["sites_file"]),
           "FACTORY_HOME": str(edge["root"] / "backfill-home")}
    proc = subprocess.run([sys.executable, "-m", "factory_app", "backfill", "availability", "--site", "plant-a",
                           "--until-caught-up"], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "as group 'central-plant-a-availability'" in proc.stderr and "caught up" in proc.stderr
    central = central_settings(site_a, edge["config"], "plant-a")
    ends = asyncio.run(record_ends(central.kafka, [central.topic("telemetry")]))
    done = asyncio.run(committed_offsets(central, "central-plant-a-availability"))
    assert ends and all(done.get(tp, 0) >= end for tp, end in ends.items()), (ends, done)
    assert not asyncio.run(committed_offsets(site_a, "central-plant-a-availability"))  # nothing on the site
