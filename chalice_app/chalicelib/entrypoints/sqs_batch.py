"""SQS partial batch failure, the one way: Powertools' batch processing.

An SQS handler applies its messages one by one, in order, and answers
``{"batchItemFailures": [{"itemIdentifier": <messageId>}, ...]}``. Its event
source mapping has ``ReportBatchItemFailures`` (resources.
SQS_FUNCTION_RESPONSE_TYPES), so Lambda deletes the other messages and only
the failed ones return to the queue; each reaches the queue's DLQ after its
maxReceiveCount. A batch whose every message failed is answered the same way
(not raised): the outcome is the same, and every message is logged already.
Only the SQS handlers import this module (Powertools' batch processing
imports asyncio and every Lambda event data class): the API reads the
consumers' views without it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.adapters.observability import BatchObserver, Outcome
from chalicelib.domain.events import parse_event

if TYPE_CHECKING:
    from chalicelib.service.consumers import UserEventConsumer

__all__ = ["PartialItemFailureResponse", "SQSRecord", "SqsBatchProcessor", "process_messages"]


def process_messages(
    event: Mapping[str, Any], apply: Callable[[SQSRecord], None], context: Any = None
) -> PartialItemFailureResponse:
    """Run ``apply`` on each message of the SQS ``event``; report those that raised."""
    processor = BatchProcessor(EventType.SQS, raise_on_entire_batch_failure=False)
    # The processor itself, not process_partial_response: that refuses an empty
    # batch, which Lambda never sends but a cold start benchmark does.
    with processor(list(event.get("Records") or []), apply, context):
        processor.process()
    return processor.response()


class SqsBatchProcessor:
    """Runs a consumer over an SQS batch, message by message, and reports the failed ones.

    The event source mapping deletes the others and returns only the failed
    ones to the queue, where a poison message reaches the DLQ after
    maxReceiveCount.
    """

    def __init__(self, consumer: UserEventConsumer, name: str = "consumer") -> None:
        self._consumer = consumer
        self._name = name

    def process(self, event: Mapping[str, Any], context: Any = None) -> PartialItemFailureResponse:
        """Apply every message of the SQS ``event``; the ids of those that failed."""
        observer = BatchObserver(self._name)

        def apply(record: SQSRecord) -> None:
            # Poison, out-of-order or a transient error alike (the observer
            # logs why): only this message goes back to the queue.
            with observer.event(record.body) as slot:
                if not self._consumer.handle(parse_event(record.body)):
                    slot["outcome"] = Outcome.DUPLICATE

        try:
            return process_messages(event, apply, context)
        finally:
            observer.flush()
