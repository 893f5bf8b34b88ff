"""How a rebuild deals partitions to processes."""

from aiokafka import TopicPartition

from factory_app.replay.parallel import shares


def test_every_partition_goes_whole_to_one_share_and_loads_even_out():
    stops = {TopicPartition(t, p): (p + 1) * 100 for p in range(8) for t in ("tel", "ops")}
    dealt = shares(stops, 3)
    assert len(dealt) == 3
    seen = [tp for share in dealt for tp in share]
    assert sorted(seen) == sorted(stops) and len(seen) == len(set(seen))
    for share in dealt:  # a partition's topics stay together: a processor folds them merged
        parts = {tp.partition for tp in share}
        assert all(TopicPartition(t, p) in share for p in parts for t in ("tel", "ops"))
    loads = [sum(share.values()) for share in dealt]
    assert max(loads) - min(loads) <= 2 * 800  # within the largest partition's weight
    assert shares(stops, 20) and len(shares(stops, 20)) == 8  # no empty share
    assert shares({}, 4) == []
