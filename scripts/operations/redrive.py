"""``ops.py redrive QUEUE`` (and the console's redrive button): failed messages back.

A DLQ's messages move back to its source queue; the stream failure queue's
records are fetched again and the failed function re-invoked (on AWS through
the Lambda API, on the local stack in this process, as its event sources do).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chalicelib.adapters import aws
from chalicelib.settings import get_settings
from operations import queues, stream_failures
from operations.invokers import InProcessInvoker, LambdaInvoker

__all__ = ["invoker", "redrive"]

APP_DIR = Path(__file__).resolve().parents[2] / "chalice_app"

Invoke = Callable[[str, dict[str, Any]], None]


def invoker(local: bool) -> Invoke:
    """What re-invokes a function: the Lambda API, or (local stack) its handler here."""
    if not local:
        return LambdaInvoker(aws.client("lambda"))
    from local_aws.event_sources import LambdaContext

    # The handlers run here, as the local stack's event sources run them.
    if str(APP_DIR) not in sys.path:
        sys.path.insert(0, str(APP_DIR))
    app_module = importlib.import_module("app")
    settings = get_settings()
    return InProcessInvoker(
        app_module, LambdaContext("ops-redrive", settings.region, "123456789012", 60)
    )


def redrive(name: str, *, local: bool) -> dict[str, Any]:
    """Redrive the failure queue ``name`` (as ``queues.find_queue`` finds it).

    ``{"queue", "source", "moved", "method", ...}``; KeyError for an unknown queue.
    """
    settings = get_settings()
    queue = queues.find_queue(settings, name)
    sqs = aws.client("sqs")
    if queue.kind == queues.STREAM_FAILURES:
        url = sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
        kinesis, ddb_streams = aws.client("kinesis"), aws.client("dynamodbstreams")
        result: dict[str, Any] = stream_failures.redrive_stream_failures(
            sqs,
            url,
            invoker(local),
            lambda batch: stream_failures.fetch_records(
                batch, kinesis, ddb_streams, settings.region
            ),
        )
        result["method"] = "reinvoke"
    else:
        result = queues.move_messages(sqs, queue)
    return {"queue": queue.name, "source": queue.source, **result}
