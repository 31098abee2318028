"""What a subscriber's consumer is given: its declared resources, built on first use.

Both the subscribers' role and the API (which reads the consumers' views)
build consumers from it; it imports neither the SQS batch processing nor
cryptography (the vault is reached through roots.vault when used).
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from chalicelib import resources
from chalicelib.adapters import aws
from chalicelib.adapters.ledger import EventLedger
from chalicelib.adapters.subscriber_context import NEEDED_FOR, UndeclaredNeed
from chalicelib.adapters.user_records import History
from chalicelib.domain.events import CloudEvent
from chalicelib.entrypoints import roots
from chalicelib.settings import get_settings

if TYPE_CHECKING:
    from chalicelib.adapters.personal_data import PersonalDataVault

__all__ = ["SubscriberResources"]


def _history(user_id: str, after_version: int) -> list[CloudEvent]:
    # The ledger alone, not roots.stores: a subscriber imports no read model.
    return EventLedger(aws.table("ledger")).load(user_id, after_version=after_version)


class SubscriberResources:
    """A subscriber's resources (chalicelib.adapters.subscriber_context), each built on first use.

    A subscriber gets only what its declared needs grant (subscriber_context.
    NEEDED_FOR): anything else raises UndeclaredNeed, so a wrong declaration
    fails on the local stack and in tests, not first as an IAM denial in AWS.
    Only what a subscriber uses is built, so the vault (cryptography) is
    imported by the subscribers that open personal data alone, and by those
    only when a record needs opening: their consumers read ``vault`` then, not
    when they are built.
    """

    def __init__(self, key: str) -> None:
        self._spec = resources.subscriber(key)

    def _granted(self, attribute: str) -> None:
        need = NEEDED_FOR[attribute]
        if need not in self._spec.needs:
            raise UndeclaredNeed(
                f"subscriber {self._spec.key!r} ({self._spec.handler}) uses {attribute!r}, "
                f"which needs Need.{need.name}: declare it in resources.SUBSCRIBERS"
            )

    @cached_property
    def table(self) -> Any:
        return aws.table(self._spec.table.key)

    @property
    def history(self) -> History:
        self._granted("history")
        return _history

    @cached_property
    def vault(self) -> PersonalDataVault:
        self._granted("vault")
        return roots.vault.vault()

    @cached_property
    def ses(self) -> Any:
        self._granted("ses")
        return aws.client("sesv2")

    @property
    def email_sender(self) -> str:
        self._granted("email_sender")
        sender = get_settings().email_sender
        if not sender:
            raise RuntimeError(f"{resources.EMAIL_SENDER_ENV_VAR} is not set")
        return sender

    @cached_property
    def cognito(self) -> Any:
        self._granted("cognito")
        return aws.client("cognito-idp")

    @property
    def user_pool_id(self) -> str:
        self._granted("user_pool_id")
        cognito = get_settings().cognito
        if cognito is None:
            raise RuntimeError(f"{resources.USER_POOL.pool_id_env_var} is not set")
        return cognito.user_pool_id
