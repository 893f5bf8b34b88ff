"""Sending a dead letter so that no message can stop the process that read it.

A dead letter is bounded (``events.DeadLetter``), so its producer takes it whatever the bad
message was. Should the send fail all the same (the dead-letter topic refuses it, the broker
is gone past the producer's retries), the message is skipped without one: counted in
``factory_dead_letters_unsent_total``, logged once, and still readable in its source topic at
the (topic, partition, offset) the log line names. A skipped copy costs an index entry; a
process that stops on it costs the plant its control.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from factory_app import events, metrics

log = logging.getLogger(__name__)


def record_headers(record: Any) -> list[tuple[Any, Any]]:
    """A consumer record's or Faust message's headers as (name, value) pairs."""
    headers = getattr(record, "headers", None) or ()
    return list(headers.items()) if hasattr(headers, "items") else list(headers)


def letter_for(failure: events.DecodeFailure, record: Any, consumer: str) -> events.DeadLetter:
    """The dead letter of one record (an aiokafka ConsumerRecord or a Faust Message)."""
    return events.dead_letter(failure, topic=record.topic, partition=record.partition, offset=record.offset,
                              key=record.key, raw=record.value, consumer=consumer, headers=record_headers(record))


def _unsent(letter: events.DeadLetter, exc: BaseException) -> None:
    metrics.DEAD_LETTERS_UNSENT.labels(letter.consumer, letter.reason).inc()
    log.error("%s[%d]@%d (%s) skipped without a dead letter: its send failed (%s: %s); the message stays in "
              "its source topic", letter.topic, letter.partition, letter.offset, letter.reason,
              type(exc).__name__, str(exc)[:200],
              extra={"reason": letter.reason, "processor": letter.consumer})


def _counted(letter: events.DeadLetter) -> None:
    metrics.DEAD_LETTERS.labels(letter.consumer, letter.reason).inc()
    log.warning("dead-lettered %s[%d]@%d: %s: %s", letter.topic, letter.partition, letter.offset, letter.reason,
                letter.detail[:200], extra={"reason": letter.reason, "processor": letter.consumer})


async def queue(producer: Any, topic: str, letter: events.DeadLetter) -> asyncio.Future | None:
    """Queue ``letter`` on an aiokafka producer; its outcome is counted when it settles.

    Returns the send's future (never raising with the message's error), or None when the
    producer refused it at once. The caller's commit flushes the producer, so a dead letter is
    settled before its message's offset is committed."""
    try:
        sent = await producer.send(topic, events.encode(letter), key=events.dead_letter_key(letter.key))
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 (refused before queueing: too large, unknown topic, closed)
        _unsent(letter, exc)
        return None

    def settled(fut: asyncio.Future) -> None:
        exc = None if fut.cancelled() else fut.exception()
        if fut.cancelled() or exc is not None:
            _unsent(letter, exc or asyncio.CancelledError())
        else:
            _counted(letter)

    sent.add_done_callback(settled)
    return sent


async def send(producer: Any, topic: str, letter: events.DeadLetter) -> bool:
    """Send ``letter`` and wait for its acknowledgement; False when it could not be sent (see the module)."""
    sent = await queue(producer, topic, letter)
    if sent is None:
        return False
    try:
        await asyncio.shield(sent)
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001 (counted and logged by the future's callback)
        return False
    return True
