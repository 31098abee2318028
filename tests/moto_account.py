"""The platform's moto account, provisioned once per test run and restored for each test.

Provisioning every declared resource in moto costs a third of a second of CPU
(about 60 AWS calls and their client set-up); a test needs it as it was just
after provisioning, not freshly made. So the session provisions once, keeps a
deep copy of moto's in-memory backends for the account, and each test starts
from another deep copy of that (about 2 ms): the same tables, streams, queues,
topic, key, bucket and user pool, with no item, record, message or user left
by an earlier test. moto keeps all of an account's state in those backends
(``BackendDict[account][region]``), and every cross-service lookup (SNS to SQS,
DynamoDB Streams to DynamoDB) goes through them by name, so a copy is a whole
account.
"""

from __future__ import annotations

import copy
import copyreg
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.base_backend import BackendDict

__all__ = ["AccountSnapshot"]

# Some backends hold a lock or a condition (an SQS queue's). A copy gets a new one,
# unheld: copied field by field, a Condition would keep the original lock's methods.
_NEW_ON_COPY: dict[type, Any] = {
    type(threading.Lock()): threading.Lock,
    type(threading.RLock()): threading.RLock,
    threading.Condition: threading.Condition,
}


def _made_anew(make: Any) -> Any:
    def reduce(_: object) -> tuple[Any, tuple[()]]:
        return make, ()

    return reduce


@contextmanager
def _locks_copied_as_new() -> Iterator[None]:
    saved = {kind: copyreg.dispatch_table.get(kind) for kind in _NEW_ON_COPY}
    for kind, make in _NEW_ON_COPY.items():
        copyreg.dispatch_table[kind] = _made_anew(make)
    try:
        yield
    finally:
        for kind, reducer in saved.items():
            if reducer is None:
                copyreg.dispatch_table.pop(kind, None)
            else:
                copyreg.dispatch_table[kind] = reducer


class AccountSnapshot:
    """The state of moto's default account at one moment, restorable any number of times."""

    def __init__(self, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
        self.account_id = account_id
        in_use: list[BackendDict[Any]] = BackendDict._instances  # type: ignore[misc]
        services = [bd for bd in in_use if account_id in bd]
        # The BackendDicts themselves are moto's module-level registries: kept, not copied.
        self._services = services
        with _locks_copied_as_new():
            self._regions: list[dict[str, Any]] = copy.deepcopy(
                [dict(bd[account_id]) for bd in services]
            )

    def restore(self) -> None:
        """Put the account back as it was: every service's backends replaced by fresh copies.

        Call it with the mock started (``mock_aws().start()`` empties every
        backend first, so services the snapshot does not hold start empty).
        """
        with _locks_copied_as_new():
            regions = copy.deepcopy(self._regions)
        for backends, copied in zip(self._services, regions, strict=True):
            account = backends[self.account_id]  # registers the service as in use again
            for region, backend in copied.items():
                dict.__setitem__(account, region, backend)
