"""The fan-out's role: user events from the Kinesis stream -> the SNS topic."""

from __future__ import annotations

from chalicelib.adapters import aws, faults
from chalicelib.adapters.observability import BatchObserver, Outcome, event_fields
from chalicelib.service.fanout import FANOUT_TYPE_PREFIX, UserEventFanout
from chalicelib.settings import get_settings

__all__ = ["fan_out_user_events"]


def fan_out_user_events(raw_records: list[bytes]) -> int:
    """Publish the user events of a Kinesis batch to the SNS topic."""
    fanout = UserEventFanout(aws.client("sns"), get_settings().user_events_topic_arn)
    observer = BatchObserver("user_events_fanout")
    with observer.invocation(raw_records):
        faults.check("user_events_fanout")
        published = fanout.publish(raw_records)
        for raw in raw_records:
            fields = event_fields(raw)
            user_event = str(fields["event_type"] or "").startswith(FANOUT_TYPE_PREFIX)
            outcome = Outcome.PUBLISHED if user_event else Outcome.IGNORED
            observer.record(fields, outcome, observer.started)
    return published
