"""Erasure ends the identity: the erased person's Cognito user is deleted.

A subscriber of ``user.erased`` (resources.SUBSCRIBERS,
``Need.DELETE_IDENTITY``) calls ``AdminDeleteUser`` for the person's ``sub``
(the pool's username is the email, so Cognito's username of a person is their
``sub``), then records the deletion. Deleting is idempotent: a redelivery, or
a crash between the two steps, finds the user already gone and only records
it. Deleting by ``sub`` never touches a later identity of the same email,
which has a new ``sub``. Their refresh tokens die with the user; an access
token already issued stays valid until it expires (60 minutes), which is why
every command about an erased person is refused by the API as well.
"""

from __future__ import annotations

import logging
from typing import Any, Self

from botocore.exceptions import ClientError

from chalicelib.adapters.subscriber_context import SubscriberContext
from chalicelib.domain.events import USER_ERASED, CloudEvent, format_time, utc_now

__all__ = ["IdentityDeletion"]

logger = logging.getLogger(__name__)


class IdentityDeletion:
    """Deletes the Cognito user of every erased person, once."""

    def __init__(self, table: Any, cognito: Any, user_pool_id: str) -> None:
        self._table = table
        self._cognito = cognito
        self._user_pool_id = user_pool_id

    @classmethod
    def from_context(cls, context: SubscriberContext) -> Self:
        return cls(context.table, context.cognito, context.user_pool_id)

    def handle(self, event: CloudEvent) -> bool:
        """Delete the erased person's identity; False if that was already recorded."""
        if event.type != USER_ERASED or self.position(event.subject) is not None:
            return False
        try:
            self._cognito.admin_delete_user(UserPoolId=self._user_pool_id, Username=event.subject)
            outcome = "deleted"
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "UserNotFoundException":
                raise
            outcome = "absent"
        try:
            self._table.put_item(
                Item={
                    "user_id": event.subject,
                    "version": event.aggregateversion,
                    "last_event_id": event.id,
                    "outcome": outcome,
                    "applied_at": format_time(utc_now()),
                },
                ConditionExpression="attribute_not_exists(user_id)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        logger.info("identity of user %s %s", event.subject, outcome)
        return True

    def position(self, user_id: str) -> dict[str, Any] | None:
        """The erasure recorded for ``user_id`` (its version and event); None if none."""
        item = self._table.get_item(Key={"user_id": user_id}, ConsistentRead=True).get("Item")
        if item is None:
            return None
        return {"version": int(item["version"]), "last_event_id": item["last_event_id"]}
