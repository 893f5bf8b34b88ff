"""A dead letter is bounded whatever the message (issue 29, item 1): key, value and headers at
and over the broker's record limit give a dead letter its producer accepts, with the originals'
sizes and digests; a dead letter that cannot be sent is counted and skipped, never raised."""

from __future__ import annotations

import asyncio
import hashlib

from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError
from hypothesis import given, settings as hsettings, strategies as st

from factory_app import dead_letter_send, events, metrics
from factory_app.events import DecodeFailure

RECORD_LIMIT = 1024 * 1024


def letter(key, raw, headers=()):
    return events.dead_letter(DecodeFailure("undecodable", "x" * 5000), topic="t", partition=1, offset=7,
                              key=key, raw=raw, consumer="p", headers=headers)


def test_a_message_at_the_record_limit_in_every_part_gives_a_bounded_dead_letter():
    big = bytes(range(256)) * (RECORD_LIMIT // 256)
    headers = [(f"h{i}" * 300, big) for i in range(40)]
    dl = letter(big, big, headers)
    encoded = events.encode(dl)
    assert len(encoded) <= events.DEAD_LETTER_MAX_BYTES
    assert len(events.dead_letter_key(dl.key)) <= events.DEAD_KEY_COPY_BYTES
    back = events.decode_dead_letter(encoded)
    assert back.key_size == back.raw_size == len(big) and back.key_truncated and back.raw_truncated
    assert back.key_sha256 == back.raw_sha256 == hashlib.sha256(big).hexdigest()
    assert back.key == big[:events.DEAD_KEY_COPY_BYTES] and back.raw == big[:events.DEAD_VALUE_COPY_BYTES]
    assert back.headers_count == 40 and len(back.headers) == events.DEAD_HEADERS_COPIED
    assert all(h.size == len(big) and h.truncated and h.sha256 == back.raw_sha256 for h in back.headers)
    assert len(back.detail) == events.DEAD_DETAIL_CHARS


def test_a_small_message_is_copied_whole():
    dl = events.decode_dead_letter(events.encode(letter(b"oven-1", b"{bad", [("trace", b"abc")])))
    assert dl.key == b"oven-1" and dl.raw == b"{bad" and not dl.key_truncated and not dl.raw_truncated
    assert [(h.name, h.size, h.truncated) for h in dl.headers] == [("trace", 3, False)]


@hsettings(max_examples=40, deadline=None)
@given(key=st.one_of(st.none(), st.binary(max_size=3000)), raw=st.binary(max_size=200_000),
       headers=st.lists(st.tuples(st.text(max_size=400), st.binary(max_size=3000)), max_size=30))
def test_any_message_gives_a_dead_letter_within_the_bound(key, raw, headers):
    dl = letter(key, raw, headers)
    assert len(events.encode(dl)) <= events.DEAD_LETTER_MAX_BYTES
    assert events.decode_dead_letter(events.encode(dl)) == dl


def test_a_key_too_long_to_be_an_asset_is_shown_cut_in_the_detail():
    tele = events.Telemetry(event_id="e", asset_id="oven-1", event_time=1.0, tag="t", value=1.0)
    try:
        events.check_key(b"k" * 450_000, tele)
    except DecodeFailure as failure:
        assert len(failure.detail) < 400 and "..." in failure.detail
    else:
        raise AssertionError("a wrong key was accepted")


class _Refusing:
    """A producer stand-in that refuses as aiokafka does: at once (size) or when the batch fails."""

    def __init__(self, at_once: Exception | None = None, later: Exception | None = None):
        self.at_once, self.later = at_once, later

    async def send(self, topic, value, key=None):
        if self.at_once is not None:
            raise self.at_once
        fut = asyncio.get_running_loop().create_future()
        fut.set_exception(self.later) if self.later else fut.set_result(None)
        return fut


def _unsent(processor: str) -> float:
    return metrics.DEAD_LETTERS_UNSENT.labels(processor, "undecodable")._value.get()


def test_a_dead_letter_the_producer_refuses_is_counted_and_skipped():
    dl = events.dead_letter(DecodeFailure("undecodable", "x"), topic="t", partition=0, offset=1, key=b"k",
                            raw=b"v", consumer="unit-refused")
    before = _unsent("unit-refused")
    assert asyncio.run(dead_letter_send.send(_Refusing(at_once=MessageSizeTooLargeError()), "dl", dl)) is False
    assert asyncio.run(dead_letter_send.send(_Refusing(later=KafkaTimeoutError()), "dl", dl)) is False
    assert _unsent("unit-refused") - before == 2
    sent_before = metrics.DEAD_LETTERS.labels("unit-refused", "undecodable")._value.get()
    assert asyncio.run(dead_letter_send.send(_Refusing(), "dl", dl)) is True
    assert metrics.DEAD_LETTERS.labels("unit-refused", "undecodable")._value.get() - sent_before == 1
