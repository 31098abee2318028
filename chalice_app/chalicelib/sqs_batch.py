"""SQS partial batch failure, the one way: Powertools' batch processing.

An SQS handler applies its messages one by one, in order, and answers
``{"batchItemFailures": [{"itemIdentifier": <messageId>}, ...]}``. Its event
source mapping has ``ReportBatchItemFailures`` (resources.
SQS_FUNCTION_RESPONSE_TYPES), so Lambda deletes the other messages and only
the failed ones return to the queue; each reaches the queue's DLQ after its
maxReceiveCount. A batch whose every message failed is answered the same way
(not raised): the outcome is the same, and every message is logged already.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

__all__ = ["PartialItemFailureResponse", "SQSRecord", "process_messages"]


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
