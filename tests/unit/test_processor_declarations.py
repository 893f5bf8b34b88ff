"""Each processor is declared once (agents/registry.py): the live worker and the replays read the same declaration."""

from __future__ import annotations

from agents.registry import PROCESSORS, chosen
from factory_app.app import create_app
from factory_app.replay.projections import folds, processor_of
from factory_app.settings import Settings

import pytest


def test_the_live_worker_declares_exactly_the_declared_tables(tmp_path):
    settings = Settings(processors=list(PROCESSORS), home=tmp_path, shadow_plant="config/plant.yaml")
    worker = create_app(settings, prometheus=False)
    declared = {t for p in PROCESSORS.values() for t in p.tables}
    assert set(worker.tables) == declared
    # A batched processor is folded by the runtime from each of its sources; any other runs as a Faust agent.
    assert {a.name for a in worker.app.agents.values()} == {n for n, p in PROCESSORS.items() if not p.batched}
    expected: dict[str, list[str]] = {}
    for p in sorted(PROCESSORS.values(), key=lambda p: not p.decides):  # deciders fold first
        for source in p.sources if p.batched else ():
            expected.setdefault(settings.topic(source), []).append(p.name)
    assert worker.runtime.members() == expected
    assert set(worker.app.transport.Consumer.batch_topics) == set(expected)


def test_replays_fold_every_declared_processor_with_its_tables_and_sources(tmp_path):
    made = {name: make() for name, make in folds(Settings(home=tmp_path), None).items()}
    assert set(made) == set(PROCESSORS)
    for name, fold in made.items():
        assert fold.tables == PROCESSORS[name].tables and fold.sources == PROCESSORS[name].sources
        for table in fold.tables:
            assert processor_of(table, Settings(home=tmp_path), None) == name


def test_defaults_and_unknown_names(tmp_path):
    assert [p.name for p in chosen(Settings(home=tmp_path))] == ["telemetry-state", "control", "command-ledger"]
    # A shadow plant adds the shadow processor (its commands go to their own topic).
    assert [p.name for p in chosen(Settings(home=tmp_path, shadow_plant="config/plant.yaml"))][-1] == "shadow"
    with pytest.raises(ValueError, match="known: telemetry-state, control, command-ledger, availability"):
        chosen(Settings(home=tmp_path, processors=["no-such"]))


def test_a_worker_refuses_exactly_once_for_the_runtime_processors(tmp_path):
    with pytest.raises(ValueError, match="exactly_once is not supported by the processor runtime"):
        create_app(Settings(home=tmp_path, processing_guarantee="exactly_once"), prometheus=False)
