"""The replay worker's role: one step of the replay state machine (infra/modules/replay)."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters import aws
from chalicelib.entrypoints.roots import stores
from chalicelib.service.replay_worker import ReplayContext, run_step
from chalicelib.settings import get_settings

__all__ = ["replay_step"]


def replay_step(step: dict[str, Any]) -> dict[str, Any]:
    """Run one step (open, fold a bucket, finish, abandon) of a replay in AWS."""
    settings = get_settings()
    context = ReplayContext(
        s3=aws.client("s3"),
        archive_bucket=settings.archive_bucket,
        read_models=stores.read_models(),
        generations=stores.generations(),
        history=stores.ledger().raw_events,
        settings=settings,
    )
    return run_step(context, step)
