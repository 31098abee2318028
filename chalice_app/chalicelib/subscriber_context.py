"""What a subscriber's consumer is built from (resources.Subscriber.consumer)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.events import CloudEvent

if TYPE_CHECKING:
    # A subscriber that opens no personal data imports no cryptography.
    from chalicelib.personal_data import PersonalDataVault

__all__ = ["SubscriberContext"]


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
        """Opens sealed personal fields (Need.OPEN_PERSONAL_DATA)."""
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
