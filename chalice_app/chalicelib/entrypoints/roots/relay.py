"""The ledger relay's role: DynamoDB stream of the ledger -> Kinesis (no event models)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from chalicelib.adapters import aws, faults
from chalicelib.adapters.observability import BatchObserver, Outcome, event_fields
from chalicelib.service.relay import LedgerRelay, ledger_inserts
from chalicelib.settings import get_settings

__all__ = ["relay_ledger_records"]


def relay_ledger_records(records: Iterable[Mapping[str, Any]]) -> int:
    """Forward the ledger inserts of a DynamoDB stream batch to Kinesis."""
    relay = LedgerRelay(aws.client("kinesis"), get_settings().event_stream)
    inserts = ledger_inserts(records)
    observer = BatchObserver("ledger_relay")
    with observer.invocation([data for _, data in inserts], RelayBatchSize=len(inserts)):
        faults.check("ledger_relay")
        forwarded = relay.forward(inserts)
        for _, data in inserts:
            observer.record(event_fields(data), Outcome.RELAYED, observer.started)
    return forwarded
