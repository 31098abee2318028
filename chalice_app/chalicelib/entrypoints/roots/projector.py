"""The projector's role: the Kinesis stream -> the declared read models."""

from __future__ import annotations

from chalicelib.adapters import faults
from chalicelib.adapters.observability import BatchObserver
from chalicelib.entrypoints.roots import stores
from chalicelib.service import projector

__all__ = ["project_records"]


def _fault_switch(read_model: str) -> None:
    # One read model can be failed on its own: "projector:<name>" in the fault switch.
    faults.check(f"projector:{read_model}")


def project_records(raw_records: list[bytes]) -> dict[str, int]:
    """Apply a Kinesis batch to the read models (the projector Lambda)."""
    observer = BatchObserver("projector", lag_metric="ProjectorLag")
    with observer.invocation(raw_records):
        faults.check("projector")
        stats = projector.project_records(
            raw_records,
            stores.read_models(),
            # The generation pointer is read once per batch (none for an empty one).
            stores.live_read_models() if raw_records else [],
            stores.ledger().raw_events,
            observer,
            guard=_fault_switch,
        )
    return {"applied": stats.applied, "duplicates": stats.duplicates, "ignored": stats.ignored}
