"""User registration: validation, email uniqueness and the UserCreated event.

A person registers the verified email of their own identity (the user
pool's), never one they merely type: ``registration_email`` is that rule.
The user item, the email lock and the event are written in one DynamoDB
transaction, so the event exists in the ledger if and only if the
registration committed. An erased person no longer exists for any command
(``UserRegistry.exists``); their email lock is dropped with the erasure, so
the address may register again under a new identity.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Discriminator, EmailStr, Field, StrictBool, Tag

from chalicelib.commands import CommandRunner, Decision
from chalicelib.dynamo import transact_put
from chalicelib.events import (
    USER_ERASED,
    UserCreated,
    UserErased,
    format_time,
    new_event,
    with_data,
)
from chalicelib.exceptions import Conflict, Forbidden, NotFound, Unprocessable
from chalicelib.idempotency import IdempotencyKey, Outcome, StoredResponse
from chalicelib.inputs import AddressLine, AddressPart, Name
from chalicelib.ledger import EventLedger
from chalicelib.personal_data import REDACTED, DataKeyStore, PersonalDataVault

__all__ = [
    "PERSONAL_FIELDS",
    "RegisterUser",
    "UserRegistry",
    "registration_email",
    "user_pk",
    "user_view",
]


def _address_kind(value: Any) -> str:
    return "parts" if isinstance(value, dict) else "text"


# One line of text, or named parts ({"street": ..., "city": ...}).
Address = Annotated[
    Annotated[AddressLine, Tag("text")]
    | Annotated[dict[Name, AddressPart], Field(min_length=1, max_length=20), Tag("parts")],
    Discriminator(_address_kind),
]


class RequestConsents(BaseModel):
    model_config = ConfigDict(extra="forbid")
    marketing: StrictBool = False


class RegisterUser(BaseModel):
    """The body of ``POST /users``; ``email``, if given, must be the identity's."""

    # Built on the first registration: its email validation (email_validator)
    # is not imported by the API's other routes.
    model_config = ConfigDict(
        extra="ignore",
        defer_build=True,
        json_schema_extra={
            "examples": [
                {
                    "name": "Ada",
                    "lastname": "Lovelace",
                    "address": {"street": "12 St James's Square", "city": "London"},
                    "loyalty": True,
                    "consents": {"marketing": True},
                }
            ]
        },
    )

    name: Name
    lastname: Name
    email: Annotated[
        EmailStr | None,
        Field(
            max_length=254,
            description="Optional: the email of the caller's identity, which is what is "
            "registered; another one is 422 `email_mismatch`.",
        ),
    ] = None
    address: Address
    loyalty: StrictBool = False
    consents: RequestConsents = RequestConsents()


PERSONAL_FIELDS = UserCreated.personal_fields


def registration_email(request: RegisterUser, identity_email: str | None) -> str:
    """The email a registration records: the identity's verified one.

    Forbidden(email_not_verified) when the identity has no verified email;
    Unprocessable(email_mismatch) when the body names another (compared
    case-insensitively).
    """
    if identity_email is None:
        raise Forbidden(
            "your identity has no verified email; verify it with the user pool first",
            code="email_not_verified",
        )
    if request.email is not None and request.email.casefold() != identity_email.casefold():
        raise Unprocessable(
            "the email must be the one of your identity",
            code="email_mismatch",
            details=[{"field": "email", "message": "is not the email of your identity"}],
        )
    return identity_email


def user_pk(user_id: str) -> str:
    """The users-table key of a user."""
    return f"user#{user_id}"


def _email_pk(email: str) -> str:
    # A digest, so the lock item holds no email in clear text.
    return "email#" + hashlib.sha256(email.strip().lower().encode()).hexdigest()


def user_view(item: dict[str, Any]) -> dict[str, Any]:
    """The public representation of a stored user (personal fields as stored)."""
    return {
        "id": item["id"],
        "name": item["name"],
        "lastname": item["lastname"],
        "email": item["email"],
        "address": item["address"],
        "loyalty": bool(item["loyalty"]),
        "consents": {"marketing": bool(item["consents"]["marketing"])},
        "created_at": item["created_at"],
        "erased": bool(item.get("erased", False)),
    }


class UserRegistry:
    """Registers, reads and erases users.

    Personal fields are sealed with the user's own data key everywhere they
    are stored (users table, ledger event, idempotency record); responses are
    opened on the way out.
    """

    def __init__(
        self,
        users_table: Any,
        ledger: EventLedger,
        runner: CommandRunner,
        keys: DataKeyStore,
        vault: PersonalDataVault | None = None,
    ) -> None:
        self._users = users_table
        self._ledger = ledger
        self._runner = runner
        self._keys = keys
        self._vault = vault or PersonalDataVault(keys)

    def open(self, view: dict[str, Any]) -> dict[str, Any]:
        """A user view with its personal fields decrypted (or redacted once erased)."""
        return self._vault.open(view["id"], view, PERSONAL_FIELDS)

    def register(
        self,
        user_id: str,
        request: RegisterUser,
        email: str,
        idempotency_key: IdempotencyKey | None = None,
    ) -> StoredResponse:
        """Create the user ``user_id`` with ``email`` (see ``registration_email``) (201);
        Conflict(already_registered) if that identity registered before (erased
        or not), Conflict(email_taken) if another user has the email.

        The response body is sealed like the stored copies: pass it through ``open``.
        """
        already_registered = Conflict(
            "this identity already has a user profile", code="already_registered"
        )

        generated: list[tuple[StoredResponse, bytes]] = []

        def decide() -> Decision:
            if self._item(user_id, "pk") is not None:
                raise already_registered
            key, key_put = self._keys.generate(user_id)
            plain = UserCreated(
                user_id=user_id,
                name=request.name,
                lastname=request.lastname,
                email=email,
                address=request.address,
                loyalty=request.loyalty,
                marketing=request.consents.marketing,
            )
            event = new_event(plain, subject=user_id, version=1)
            sealed_data = self._vault.seal_with(
                key, user_id, event.to_dict()["data"], PERSONAL_FIELDS
            )
            event = with_data(event, sealed_data)
            lock_pk = _email_pk(email)
            user = {
                "pk": user_pk(user_id),
                "id": user_id,
                **{name: sealed_data[name] for name in PERSONAL_FIELDS},
                "loyalty": request.loyalty,
                "consents": {"marketing": request.consents.marketing},
                "created_at": event.to_dict()["time"],
                "email_lock": lock_pk,
                "version": 1,
            }
            new_item = "attribute_not_exists(pk)"
            email_taken = Conflict(
                "a user with this email already exists",
                code="email_taken",
                details=[{"field": "email", "message": "already registered"}],
            )
            response = StoredResponse(Outcome.CREATED, user_view(user))
            generated[:] = [(response, key)]
            return Decision(
                response=response,
                events=[event],
                guards=[
                    transact_put(self._users.name, user, new_item),
                    transact_put(self._users.name, {"pk": lock_pk, "user_id": user_id}, new_item),
                    key_put,
                ],
                guard_errors={0: already_registered, 1: email_taken},
            )

        response = self._runner.run(decide, scope="POST /users", idempotency_key=idempotency_key)
        if generated and response is generated[0][0]:
            # This call's decision committed, so its key is the user's: opening the
            # response (and anything else in this process) needs no KMS round trip.
            self._keys.committed(user_id, generated[0][1])
        return response

    def erase(self, user_id: str, idempotency_key: IdempotencyKey | None = None) -> StoredResponse:
        """Shred the user's key and record ``user.erased`` (202); a second erasure is a no-op."""

        def decide() -> Decision:
            item = self._users.get_item(Key={"pk": user_pk(user_id)}, ConsistentRead=True).get(
                "Item"
            )
            if item is None:
                raise NotFound(f"user {user_id} not found")
            history = [orjson.loads(raw) for raw in self._ledger.raw_events(user_id)]
            erased = [e for e in history if e["type"] == USER_ERASED]
            if erased:
                return Decision(response=StoredResponse(Outcome.ACCEPTED, _erasure_view(erased[0])))
            event = new_event(
                UserErased(
                    user_id=user_id,
                    loyalty=bool(item["loyalty"]),
                    marketing=bool(item["consents"]["marketing"]),
                ),
                subject=user_id,
                version=len(history) + 1,
            )
            redact = {
                "Update": {
                    "TableName": self._users.name,
                    "Key": {"pk": user_pk(user_id)},
                    "UpdateExpression": "SET "
                    + ", ".join(f"#{n} = :redacted" for n in sorted(PERSONAL_FIELDS))
                    + ", erased = :true, erased_at = :at",
                    "ExpressionAttributeNames": {f"#{n}": n for n in PERSONAL_FIELDS},
                    "ExpressionAttributeValues": {
                        ":redacted": REDACTED,
                        ":true": True,
                        ":at": format_time(event.time),
                    },
                }
            }
            guards = [redact, self._keys.delete(user_id)]
            if item.get("email_lock"):
                guards.append(
                    {"Delete": {"TableName": self._users.name, "Key": {"pk": item["email_lock"]}}}
                )
            return Decision(
                response=StoredResponse(Outcome.ACCEPTED, _erasure_view(event.to_dict())),
                events=[event],
                guards=guards,
            )

        response = self._runner.run(
            decide, scope=f"POST /gdpr/erasure/{user_id}", idempotency_key=idempotency_key
        )
        self._keys.forget(user_id)
        return response

    def get(self, user_id: str, *, consistent: bool = False) -> dict[str, Any]:
        """The stored user, opened; NotFound if there is none."""
        item = self._users.get_item(Key={"pk": user_pk(user_id)}, ConsistentRead=consistent).get(
            "Item"
        )
        if item is None:
            raise NotFound(f"user {user_id} not found")
        return self.open(user_view(item))

    def exists(self, user_id: str) -> bool:
        """Whether ``user_id`` is a registered person who has not been erased.

        The one rule of every command about a person: an erased person is as
        unknown as one who never registered.
        """
        item = self._item(user_id, "pk", "erased")
        return item is not None and not item.get("erased", False)

    def _item(self, user_id: str, *attributes: str) -> dict[str, Any] | None:
        item = self._users.get_item(
            Key={"pk": user_pk(user_id)},
            ProjectionExpression=", ".join(f"#{name}" for name in attributes),
            ExpressionAttributeNames={f"#{name}": name for name in attributes},
            ConsistentRead=True,
        ).get("Item")
        return None if item is None else dict(item)


def _erasure_view(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "user_id": event["subject"],
        "status": "erased",
        "erased_at": event["time"],
        "event_id": event["id"],
    }
