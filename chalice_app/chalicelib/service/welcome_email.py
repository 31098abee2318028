"""The welcome email: one templated email per new user, sent through Amazon SES.

Delivery is at most once per (user, version). The consumer claims the pair
with a conditional put before it calls SES, so a redelivered message, or a
concurrent copy of it, finds the claim and sends nothing. SES takes no
idempotency key, so no order of "record" and "send" is exactly once: claiming
first means that a crash between the claim and SES's answer loses that one
email (its claim stays ``sending``, for an operator to see), whereas sending
first would mail the person again on every redelivery after such a crash.
When SES answers with an error nothing was sent: the claim is released and
the message fails, so SQS delivers it again.

The address is sealed in the event; it is opened with the person's key just
before sending. An erased person's key is gone, so they get no email.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Self

from botocore.exceptions import ClientError

from chalicelib.adapters.subscriber_context import SubscriberContext
from chalicelib.domain.events import CloudEvent, UserCreated, format_time, utc_now
from chalicelib.domain.personal_fields import REDACTED

if TYPE_CHECKING:
    # Built when an email is sent (cryptography): see WelcomeEmail.__init__.
    from chalicelib.adapters.personal_data import PersonalDataVault

__all__ = ["SUBJECT", "WelcomeEmail", "render"]

logger = logging.getLogger(__name__)

SUBJECT = "Welcome to Example"
_BODY = (
    "Hello {name},\n\n"
    "welcome to Example! Your account is ready.\n\n"
    "If you did not sign up, reply to this email and we will remove your data.\n"
)
_OPENED = ("name", "email")


def render(name: str) -> str:
    """The email's text for a person called ``name``."""
    return _BODY.format(name=name)


class WelcomeEmail:
    """Sends the welcome email of every ``user.created`` event, once."""

    def __init__(
        self, table: Any, vault: Callable[[], PersonalDataVault], ses: Any, sender: str
    ) -> None:
        self._table = table
        # Called for an email about to be sent, not when the consumer is built: a
        # batch of redeliveries opens nothing and builds no vault (cryptography).
        self._vault = vault
        self._ses = ses
        self._sender = sender

    @classmethod
    def from_context(cls, context: SubscriberContext) -> Self:
        return cls(context.table, lambda: context.vault, context.ses, context.email_sender)

    def handle(self, event: CloudEvent) -> bool:
        """Send the email; False if this (user, version) was already claimed."""
        data = event.data
        if not isinstance(data, UserCreated):
            return False
        if not self._claim(event):
            return False
        person = self._vault().open(
            event.subject, {k: getattr(data, k) for k in _OPENED}, UserCreated.personal_fields
        )
        if REDACTED in (person["email"], person["name"]):
            self._finish(event, {"status": "erased"})
            return True
        try:
            response = self._ses.send_email(
                FromEmailAddress=self._sender,
                Destination={"ToAddresses": [person["email"]]},
                Content={
                    "Simple": {
                        "Subject": {"Data": SUBJECT, "Charset": "UTF-8"},
                        "Body": {"Text": {"Data": render(person["name"]), "Charset": "UTF-8"}},
                    }
                },
            )
        except ClientError:
            # SES refused: nothing was sent, so let a redelivery try again.
            self._release(event)
            raise
        self._finish(event, {"status": "sent", "message_id": response["MessageId"]})
        logger.info("welcome email %s sent for user %s", response["MessageId"], event.subject)
        return True

    def position(self, user_id: str) -> dict[str, Any] | None:
        """The latest version claimed for ``user_id`` and its event; None if none."""
        items = self._table.query(
            KeyConditionExpression="user_id = :u",
            ExpressionAttributeValues={":u": user_id},
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )["Items"]
        if not items:
            return None
        return {"version": int(items[0]["version"]), "last_event_id": items[0]["event_id"]}

    def _key(self, event: CloudEvent) -> dict[str, Any]:
        return {"user_id": event.subject, "version": event.aggregateversion}

    def _claim(self, event: CloudEvent) -> bool:
        try:
            self._table.put_item(
                Item={
                    **self._key(event),
                    "status": "sending",
                    "event_id": event.id,
                    "claimed_at": format_time(utc_now()),
                },
                ConditionExpression="attribute_not_exists(user_id)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def _finish(self, event: CloudEvent, outcome: dict[str, str]) -> None:
        names = {f"#{k}": k for k in outcome}
        values = {f":{k}": v for k, v in outcome.items()}
        self._table.update_item(
            Key=self._key(event),
            UpdateExpression="SET "
            + ", ".join(f"#{k} = :{k}" for k in outcome)
            + ", finished_at = :finished_at",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={**values, ":finished_at": format_time(utc_now())},
        )

    def _release(self, event: CloudEvent) -> None:
        self._table.delete_item(
            Key=self._key(event),
            ConditionExpression="#status = :sending AND event_id = :event_id",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":sending": "sending", ":event_id": event.id},
        )
