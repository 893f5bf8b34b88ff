"""Route undecodable messages to the dead-letter topic instead of crashing the worker."""

from __future__ import annotations

import faust

from factory_app import dead_letter_send, events, metrics, private_apis


class DeadLetterSink:
    """Queues a bounded ``DeadLetter`` for a failed message on the worker's producer.

    Sent without Faust's producer buffer, whose failed send crashes the app: a dead letter that
    cannot be sent is counted and skipped (``factory_app.dead_letter_send``). Faust's commit
    flushes the producer before it commits the offsets, so the dead letter settles first."""

    def __init__(self, topic: faust.TopicT, processor: str):
        self.topic = topic
        self.processor = processor
        for reason in events.DEAD_LETTER_REASONS:  # export zeros, so dashboards see the series from the start
            metrics.DEAD_LETTERS.labels(processor, reason)
            metrics.DEAD_LETTERS_UNSENT.labels(processor, reason)

    async def send(self, failure: events.DecodeFailure, message) -> None:
        letter = dead_letter_send.letter_for(failure, message, self.processor)
        producer = private_apis.aiokafka_producer_of(self.topic.app)
        await dead_letter_send.queue(producer, self.topic.get_topic_name(), letter)
