"""What a subscriber's consumer is built from (resources.Subscriber.consumer)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.domain.events import CloudEvent
from chalicelib.resources import Need

if TYPE_CHECKING:
    # A subscriber that opens no personal data imports no cryptography.
    from chalicelib.adapters.personal_data import PersonalDataVault

__all__ = ["NEEDED_FOR", "SubscriberContext", "UndeclaredNeed"]

# The need each attribute of a SubscriberContext requires; ``table`` (the
# subscriber's own) needs none. A subscriber reaching one it did not declare
# gets UndeclaredNeed, on the local stack as in AWS (where IAM would deny it).
NEEDED_FOR: dict[str, Need] = {
    "history": Need.READ_LEDGER,
    "vault": Need.OPEN_PERSONAL_DATA,
    "ses": Need.SEND_EMAIL,
    "email_sender": Need.SEND_EMAIL,
    "cognito": Need.DELETE_IDENTITY,
    "user_pool_id": Need.DELETE_IDENTITY,
}


class UndeclaredNeed(PermissionError):
    """A subscriber used a resource its declared needs (resources.Subscriber.needs) do not grant."""


class SubscriberContext(Protocol):
    """What a subscriber is given, matching its declared needs (resources.Need)."""

    @property
    def table(self) -> Any:
        """The subscriber's own DynamoDB table."""
        ...

    @property
    def history(self) -> Callable[[str, int], list[CloudEvent]]:
        """A user's ledger events after a version (Need.READ_LEDGER)."""
        ...

    @property
    def vault(self) -> PersonalDataVault:
        """Opens sealed personal fields (Need.OPEN_PERSONAL_DATA); read it when a record needs
        opening: building it imports cryptography."""
        ...

    @property
    def ses(self) -> Any:
        """An SES v2 client (Need.SEND_EMAIL)."""
        ...

    @property
    def email_sender(self) -> str:
        """The verified sender address (Need.SEND_EMAIL)."""
        ...

    @property
    def cognito(self) -> Any:
        """A Cognito user pools client (Need.DELETE_IDENTITY)."""
        ...

    @property
    def user_pool_id(self) -> str:
        """The platform's user pool (Need.DELETE_IDENTITY)."""
        ...
