"""What-if: fold the log through the current rules and proposed ones side by side, compare their commands.

Both rule sets run through the control processor's own step (``agents.control``), one
telemetry record at a time in log order, into scratch tables: nothing is sent anywhere.
A command's id is derived from (rule, cause event, target), so the two sets' commands pair
up by id: a command only the proposal issues is *added*, one only the current rules issue is
*removed*, one both issue with other content (a value, a deadline) is *changed*.

The same fold answers a second question: do the current rules, replayed, issue exactly the
commands they issued live? (*drift*: a rule changed without the log knowing, or a
non-deterministic rule.) Only commands whose cause the live worker has committed past, and
whose cause this fold read, are compared.
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition

from agents import control
from factory_app import rules as rule_kinds
from agents.runtime import fold_atomically
from factory_app import events, kafka_clients
from factory_app.command_diff import Diff, diff
from factory_app.config import PlantConfig
from factory_app.replay.groups import committed_offsets
from factory_app.replay.log_reader import Record, end_offsets, read_until
from factory_app.settings import Settings

EXAMPLES = 10


@dataclass
class RuleRun:
    """One rule set folded over the log: its scratch control tables and the commands it issued,
    each with the (partition, offset) of its cause."""

    plant: PlantConfig
    step: Any
    tables: dict[int, dict] = field(default_factory=dict)
    commands: list[tuple[events.Command, int, int]] = field(default_factory=list)

    @classmethod
    def of(cls, settings: Settings, plant: PlantConfig) -> "RuleRun":
        return cls(plant, control.SPEC.step(settings, plant, "replay"))

    def feed(self, event, record: Record) -> None:
        tables = self.tables.setdefault(record.partition, {t: {} for t in control.SPEC.tables})
        try:
            issued = fold_atomically(tables, self.step, [(event, record.offset)])
        except Exception:  # noqa: S112 (the live runtime dead-letters a processing error; nothing issued)
            return
        self.commands.extend((c, record.partition, record.offset) for c in issued)


def in_span(cmd: events.Command, since: float | None, until: float | None) -> bool:
    """Whether a command's cause (its event time) lies in [since, until)."""
    return (since is None or cmd.event_time >= since) and (until is None or cmd.event_time < until)


def describe(cmd: events.Command) -> dict:
    return {"rule": cmd.rule, "asset": cmd.asset_id, "target": cmd.target, "action": cmd.action,
            "value": cmd.value, "args": list(cmd.args), "time": cmd.event_time, "deadline": cmd.deadline,
            "cause": cmd.cause_event_id, "command_id": cmd.command_id}


def summarize(d: Diff, a_name: str, b_name: str) -> dict:
    """Counts by rule and the first examples of each kind of difference, for text and JSON."""
    def first(cmds):
        return [describe(c) for c in sorted(cmds, key=lambda c: (c.event_time, c.command_id))[:EXAMPLES]]
    changed = sorted(d.changed, key=lambda p: (p[0].event_time, p[0].command_id))
    return {
        f"only_{a_name}": {"count": len(d.only_a), "by_rule": dict(Counter(c.rule for c in d.only_a)),
                           "first": first(d.only_a)},
        f"only_{b_name}": {"count": len(d.only_b), "by_rule": dict(Counter(c.rule for c in d.only_b)),
                           "first": first(d.only_b)},
        "changed": {"count": len(d.changed), "by_rule": dict(Counter(x.rule for x, _ in d.changed)),
                    "first": [{a_name: describe(x), b_name: describe(y)} for x, y in changed[:EXAMPLES]]},
    }


async def live_commands(settings: Settings, rule_names: set[str]) -> list[events.Command]:
    """Commands on the commands topic that a rule of ``rule_names`` issued (not operators')."""
    topic = settings.topic(events.COMMANDS)
    stops = await end_offsets(settings, [topic])
    out = []
    async for rec in read_until(settings, stops):
        try:
            cmd = events.decode(rec.value, expect=(events.Command,))
        except events.DecodeFailure:
            continue
        if cmd.rule in rule_names:
            out.append(cmd)
    return out


@dataclass
class WhatIf:
    current: RuleRun
    proposed: RuleRun
    stops: dict[TopicPartition, int]
    events_folded: int
    folded: dict[str, tuple[int, int]]  # event id -> (partition, offset), of the rules' assets' events

    def commands(self, run: RuleRun, since, until) -> list[events.Command]:
        return [c for c, _, _ in run.commands if in_span(c, since, until)]


async def fold_both(settings: Settings, current: PlantConfig, proposed: PlantConfig,
                    stops: dict[TopicPartition, int] | None = None, progress=None) -> WhatIf:
    """Fold the telemetry log (up to ``stops``, default its end now) through both rule sets, with
    the operators' mode changes (the rules stand aside in manual)."""
    topic = settings.topic(events.TELEMETRY)
    stops = stops if stops is not None else await end_offsets(settings, [topic])
    read = {**stops, **await end_offsets(settings, [settings.topic(events.OPERATOR_ACTIONS)])}
    runs = RuleRun.of(settings, current), RuleRun.of(settings, proposed)
    watched = {rule_kinds.trigger_asset(r) for p in (current, proposed) for r in p.rules}
    folded: dict[str, tuple[int, int]] = {}
    count = 0
    async for rec in read_until(settings, read, progress):
        try:
            event = events.decode_source(rec.key, rec.value, rec.timestamp_ms / 1000, control.SPEC.accepts,
                                         settings.worker.max_clock_ahead)
        except events.DecodeFailure:
            continue  # dead-lettered live; no rule saw it
        count += 1
        if event.asset_id in watched:
            folded[event.event_id] = (rec.partition, rec.offset)
        for run in runs:
            run.feed(event, rec)
    return WhatIf(runs[0], runs[1], stops, count, folded)


async def drift(settings: Settings, result: WhatIf, since: float | None, until: float | None) -> dict:
    """The current rules' live commands against what they recompute, over causes both have seen."""
    committed = await committed_offsets(settings, settings.worker.app_id)
    if not committed:
        return {"compared": False, "reason": f"no committed offsets for group {settings.worker.app_id!r}"}
    topic = settings.topic(events.TELEMETRY)
    live_seen = {tp.partition: off for tp, off in committed.items() if tp.topic == topic}

    def committed_past(part: int, off: int) -> bool:
        return off < live_seen.get(part, 0)

    recomputed = [c for c, part, off in result.current.commands if committed_past(part, off) and in_span(c, since, until)]
    names = {r.name for r in result.current.plant.rules}
    live = [c for c in await live_commands(settings, names)
            if c.cause_event_id in result.folded and committed_past(*result.folded[c.cause_event_id])
            and in_span(c, since, until)]
    # A recomputed command whose cause the live worker committed past but which it never
    # issued, or a live one not recomputed, or one issued with other content, is drift.
    return {"compared": True, "live": len(live), "recomputed": len(recomputed),
            **summarize(diff(live, recomputed), "live", "recomputed")}


def report(settings: Settings, result: WhatIf, since: float | None, until: float | None, drift_report: dict) -> dict:
    cur, prop = result.commands(result.current, since, until), result.commands(result.proposed, since, until)
    d = diff(cur, prop)
    return {"events_folded": result.events_folded,
            "until_offsets": {str(tp.partition): off for tp, off in sorted(result.stops.items(),
                                                                         key=lambda x: x[0].partition)},
            "span": {"from": since, "to": until},
            "current_commands": len(cur), "proposed_commands": len(prop),
            "differs": not d.empty, **_rename(summarize(d, "current", "proposed")),
            "drift": drift_report}


def _rename(summary: dict) -> dict:
    """``only_current`` is a command the proposal removes, ``only_proposed`` one it adds."""
    return {"removed": summary["only_current"], "added": summary["only_proposed"], "changed": summary["changed"]}


def live_comparison(shadow_memory: dict[str, dict]) -> dict:
    """The shadow's running comparison summed over assets (``shadow_memory`` table entries)."""
    by_rule: dict[str, Counter] = {}
    recent, since = [], None
    for asset, entry in shadow_memory.items():
        if not entry:
            continue
        for rule, outcomes in entry.get("counts", {}).items():
            by_rule.setdefault(rule, Counter()).update(outcomes)
        recent += [{"asset": asset, **r} for r in entry.get("recent", [])]
        since = entry["since"] if since is None else min(since, entry["since"])
    differing = {rule: sum(n for o, n in c.items() if o != "same") for rule, c in by_rule.items()}
    return {"since": since, "by_rule": {rule: dict(c) for rule, c in sorted(by_rule.items())},
            "differs": any(differing.values()),
            "recent": sorted(recent, key=lambda r: r["time"])[-EXAMPLES:]}


def unchanged_rules(current: PlantConfig, proposed: PlantConfig) -> set[str]:
    """Names of the proposed rules defined exactly as the current rule of that name: their
    memory in a snapshot of the current rules is theirs too. Pure."""
    now = {r.name: r.model_dump(mode="json") for r in current.rules}
    return {r.name for r in proposed.rules if now.get(r.name) == r.model_dump(mode="json")}


def proposed_tables(tables: dict[str, dict], keep: set[str]) -> dict[str, dict]:
    """The proposed run's start from the current rules' snapshot: the same asset states and
    modes, and each asset's memory of the unchanged rules only. Pure."""
    memory = {asset: {name: m for name, m in (mem or {}).items() if name in keep}
              for asset, mem in tables.get(f"{control.PROCESSOR}_rule_memory", {}).items()}
    return {**copy.deepcopy(tables), f"{control.PROCESSOR}_rule_memory": copy.deepcopy(memory)}


async def fold_span(settings: Settings, current: PlantConfig, proposed: PlantConfig, since: float,
                    until: float | None, warmup: float, progress=None) -> tuple[WhatIf, dict]:
    """``fold_both`` for commands caused in [since, until), from the snapshots: each partition
    starts from the newest snapshot of the control processor (current plant file) at or before
    ``since - warmup`` and stops where the partition is past ``until`` and the lateness bound.
    The current rules and the proposed rules defined as they are start exact; a changed or new
    rule starts with no memory at that snapshot (warmed over at least ``warmup`` seconds).
    Late events after the stop cannot be folded in their place: they are counted."""
    from factory_app.snapshots.bounded import Source, after_the_stop, plan, read_plan
    from factory_app.snapshots.build import fingerprints

    tel, act = settings.topic(events.TELEMETRY), settings.topic(events.OPERATOR_ACTIONS)
    source = Source(control.PROCESSOR, fingerprints(settings, current, [control.SPEC])[control.PROCESSOR],
                    control.SPEC.tables)
    firsts, ends = await kafka_clients.log_bounds(settings.kafka, [tel, act])
    runs = RuleRun.of(settings, current), RuleRun.of(settings, proposed)
    keep = unchanged_rules(current, proposed)
    watched = {rule_kinds.trigger_asset(r) for p in (current, proposed) for r in p.rules}
    folded: dict[str, tuple[int, int]] = {}
    info: dict = {"warmup_s": warmup, "warmed_rules": sorted({r.name for r in proposed.rules} - keep),
                  "late_not_folded": 0, "unchecked_after_stop": 0, "partitions": {}}
    stops: dict[TopicPartition, int] = {}
    count = 0
    async with kafka_clients.consumer_of(settings.kafka, max_partition_fetch_bytes=4 * 1024 * 1024) as consumer:
        for tp in sorted((tp for tp in ends if tp.topic == tel), key=lambda t: t.partition):
            pl = await plan(settings, tp.partition, ends, until, None, firsts=firsts, source=source,
                            start_at=since - warmup)
            if pl.point is not None:
                runs[0].tables[tp.partition] = copy.deepcopy(pl.tables)
                runs[1].tables[tp.partition] = proposed_tables(pl.tables, keep)
            done = 0
            async for rec in read_plan(settings, consumer, pl, until, past_the_stop=False):
                done += 1
                if progress is not None and done % 2000 == 0:
                    progress(tp, done)
                try:
                    event = events.decode_source(rec.key, rec.value, rec.timestamp_ms / 1000, control.SPEC.accepts,
                                                 settings.worker.max_clock_ahead)
                except events.DecodeFailure:
                    continue
                count += 1
                if event.asset_id in watched:
                    folded[event.event_id] = (rec.partition, rec.offset)
                for run in runs:
                    run.feed(event, rec)
            t = pl.telemetry
            stop = t.stopped_at if t.stopped_at is not None else t.limit
            late = len(after_the_stop(t.late, stop, min(t.covered, t.limit)))
            unchecked = max(0, t.limit - max(stop, t.covered))
            info["late_not_folded"] += late
            info["unchecked_after_stop"] += unchecked
            info["partitions"][str(tp.partition)] = {
                "snapshot": None if pl.point is None else {"telemetry": pl.point.telemetry, "hwm": pl.point.hwm},
                "read": done, "stop": stop, "late_not_folded": late}
            stops[tp] = stop
    info["exact_for_current_rules"] = info["late_not_folded"] == 0 and info["unchecked_after_stop"] == 0
    return WhatIf(runs[0], runs[1], stops, count, folded), info
