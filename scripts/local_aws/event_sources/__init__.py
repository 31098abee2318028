"""Run a Chalice app's SQS, Kinesis and DynamoDB-stream handlers like Lambda would.

moto stores queues and streams but never runs Lambda event source mappings, so
the local stack uses :class:`EventSourceRunner` instead. For every event source
declared on the app (``app.event_sources``) it polls the queue or stream with
ordinary boto3 calls and invokes ``app.handler_map[name](event, context)`` with
a Lambda-shaped event:

- SQS: batches of up to ``batch_size`` messages gathered for at most
  ``maximum_batching_window_in_seconds``; at most ``maximum_concurrency``
  concurrent invocations per queue. A normal return deletes the batch, or, if
  the mapping reports batch item failures (``ReportBatchItemFailures`` in
  chalicelib.resources.SQS_FUNCTION_RESPONSE_TYPES, as post_deploy sets in
  AWS) and the handler returns ``{"batchItemFailures": [...]}``, all but
  those (an answer naming an id not in the batch fails it whole, as in AWS);
  an exception deletes nothing, so the queue's redrive policy applies.
- Kinesis and DynamoDB streams: every shard in parallel, each strictly in
  order, checkpointed (in memory and optionally in a JSON file) only after
  success. A failing batch is retried ``maximum_retry_attempts`` times, then
  bisected; a single record that still fails goes to the on-failure SQS queue
  with a Lambda-style on-failure record, and the shard moves on.

Batching windows are Lambda's for these sources: the next window begins as soon
as the previous invocation completes (not when the first record arrives, as for
Kafka and MQ), so a record reaching a source idle for longer than its window is
handed over at once, and a batch still waits out its window unless it is full.
An idle poller sleeps ``idle_poll_seconds`` between polls (or longer, once idle
for a while: ``max_idle_poll_seconds``, local_aws.event_sources.backoff), but a
handler run wakes the idle pollers of every other queue and stream at once: that
handler may just have written to them. Another process that writes a table wakes
its stream's pollers with ``wake_table_streams`` (the local stack's API does:
local_aws.wake_signal).
"""

from local_aws.event_sources.backoff import IdleBackoff
from local_aws.event_sources.checkpoints import CheckpointStore
from local_aws.event_sources.clients import ClientFactory, make_client_factory
from local_aws.event_sources.context import LambdaContext
from local_aws.event_sources.runner import EventSourceRunner
from local_aws.event_sources.source import SourceStats

__all__ = [
    "CheckpointStore",
    "ClientFactory",
    "EventSourceRunner",
    "IdleBackoff",
    "LambdaContext",
    "SourceStats",
    "make_client_factory",
]
