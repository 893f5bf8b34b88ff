"""Route undecodable messages to the dead-letter topic instead of crashing the worker."""

from __future__ import annotations

import logging

import faust

from factory_app import events, metrics

log = logging.getLogger(__name__)


class DeadLetterSink:
    """Sends a ``DeadLetter`` for a failed message; the send is flushed before the offset commits."""

    def __init__(self, topic: faust.TopicT, processor: str):
        self.topic = topic
        self.processor = processor
        for reason in events.DEAD_LETTER_REASONS:  # export zeros, so dashboards see the series from the start
            metrics.DEAD_LETTERS.labels(processor, reason)

    async def send(self, failure: events.DecodeFailure, message: faust.types.Message) -> None:
        dl = events.dead_letter(
            failure, topic=message.topic, partition=message.partition, offset=message.offset,
            key=message.key, raw=message.value, consumer=self.processor,
        )
        # Same key as the bad message: it lands beside its asset's other events.
        await self.topic.send(key=message.key, value=events.encode(dl))
        metrics.DEAD_LETTERS.labels(self.processor, failure.reason).inc()
        log.warning("dead-lettered %s[%d]@%d: %s", message.topic, message.partition, message.offset, failure,
                    extra={"reason": failure.reason, "asset_id": (message.key or b"").decode("utf-8", "replace")})
