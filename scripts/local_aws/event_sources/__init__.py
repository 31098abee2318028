"""Run a Chalice app's SQS, Kinesis and DynamoDB-stream handlers like Lambda would."""

from local_aws.event_sources.runner import (
    CheckpointStore,
    ClientFactory,
    EventSourceRunner,
    LambdaContext,
    SourceStats,
    make_client_factory,
)

__all__ = [
    "CheckpointStore",
    "ClientFactory",
    "EventSourceRunner",
    "LambdaContext",
    "SourceStats",
    "make_client_factory",
]
