"""User registration and erasure: the service around the user aggregate's decide.

A person registers the verified email of their own identity (the user
pool's), never one they merely type: ``registration_email`` is that rule, a
precondition checked before anything is loaded. The user item, the email
lock, the data key and the event commit in one unit of work, so the event
exists in the ledger if and only if the registration committed. An erased
person no longer exists for any command (``UserRegistry.exists``); their
email lock is dropped with the erasure, so the address may register again
under a new identity.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import msgspec
from pydantic import BaseModel, ConfigDict, Discriminator, Field, StrictBool, Tag

from chalicelib.adapters.idempotency import IdempotencyKey, Outcome, StoredResponse
from chalicelib.adapters.personal_data import REDACTED, DataKeyStore, PersonalDataVault
from chalicelib.adapters.unit_of_work import Delete, EventStore, Items, Put, Update
from chalicelib.domain import user_aggregate
from chalicelib.domain.clock import SYSTEM_CLOCK, Clock
from chalicelib.domain.events import (
    USER_ERASED,
    CloudEvent,
    UserCreated,
    format_time,
    new_event,
    with_data,
)
from chalicelib.domain.exceptions import Conflict, Forbidden, NotFound, Unprocessable
from chalicelib.domain.inputs import AddressLine, AddressPart, Name, dict_schema
from chalicelib.domain.user_aggregate import Erase, Register, UserEvent, UserState
from chalicelib.service.commands import Changes, CommandRunner

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
    | Annotated[
        dict[Name, AddressPart],
        Field(min_length=1, max_length=20, json_schema_extra=dict_schema(Name, AddressPart)),
        Tag("parts"),
    ],
    Discriminator(_address_kind),
]


class RequestConsents(BaseModel):
    model_config = ConfigDict(extra="forbid")
    marketing: StrictBool = False


class RegisterUser(BaseModel):
    """The body of ``POST /users``; ``email``, if given, must be the identity's."""

    # Built on the first registration, not when the API starts.
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
    # Only compared with the identity's verified email: any other text, an
    # email or not, is the same 422, so its form is not a rule of its own.
    email: Annotated[
        str | None,
        Field(
            strict=True,
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


def _already_registered() -> Conflict:
    return Conflict("this identity already has a user profile", code="already_registered")


def _key_write(put: Mapping[str, Any]) -> Put:
    """The data key store's transaction Put as a side write (no conflict: decide again)."""
    return Put(put["Put"]["TableName"], put["Put"]["Item"], key=("user_id",))


class _Registration:
    """The registration command's load and record (user_aggregate.decide decides)."""

    def __init__(
        self, users: Items, keys: DataKeyStore, vault: PersonalDataVault, clock: Clock
    ) -> None:
        self._users = users
        self._keys = keys
        self._vault = vault
        self._clock = clock
        # The response and data key of this call's latest decision.
        self.generated: tuple[StoredResponse, bytes] | None = None

    def load(self, command: Register) -> UserState | None:
        # A precondition: an identity registers once, even after its erasure.
        if self._users.get({"pk": user_pk(command.user_id)}) is not None:
            raise _already_registered()
        return None

    def decide(self, state: UserState | None, command: Register) -> list[UserEvent]:
        return user_aggregate.decide(state, command)

    def record(
        self, state: UserState | None, command: Register, events: Sequence[UserEvent]
    ) -> Changes:
        user_id = command.user_id
        key, key_put = self._keys.generate(user_id)
        (plain,) = events
        event = new_event(plain, subject=user_id, version=1, time=self._clock.now())
        sealed_data = self._vault.seal_with(key, user_id, event.to_dict()["data"], PERSONAL_FIELDS)
        event = with_data(event, sealed_data)
        lock_pk = _email_pk(command.email)
        user = {
            "pk": user_pk(user_id),
            "id": user_id,
            **{name: sealed_data[name] for name in PERSONAL_FIELDS},
            "loyalty": command.loyalty,
            "consents": {"marketing": command.marketing},
            "created_at": event.to_dict()["time"],
            "email_lock": lock_pk,
            "version": 1,
        }
        email_taken = Conflict(
            "a user with this email already exists",
            code="email_taken",
            details=[{"field": "email", "message": "already registered"}],
        )
        response = StoredResponse(Outcome.CREATED, user_view(user))
        self.generated = (response, key)
        return Changes(
            response,
            [event],
            [
                Put(self._users.name, user, conflict=_already_registered()),
                Put(self._users.name, {"pk": lock_pk, "user_id": user_id}, conflict=email_taken),
                _key_write(key_put),
            ],
        )


class _Erasable(msgspec.Struct, frozen=True):
    """What erasure decides on: the user's fold, its item, and an earlier erasure."""

    user: UserState | None
    item: Mapping[str, Any]
    erased: CloudEvent | None


class _Erasure:
    """The erasure command's load and record (user_aggregate.decide decides)."""

    def __init__(self, users: Items, ledger: EventStore, keys: DataKeyStore, clock: Clock) -> None:
        self._users = users
        self._ledger = ledger
        self._keys = keys
        self._clock = clock

    def load(self, command: Erase) -> _Erasable:
        item = self._users.get({"pk": user_pk(command.user_id)})
        if item is None:
            raise NotFound(f"user {command.user_id} not found")
        history = self._ledger.load(command.user_id)
        erased = next((e for e in history if e.type == USER_ERASED), None)
        return _Erasable(user_aggregate.fold(history), item, erased)

    def decide(self, state: _Erasable, command: Erase) -> list[UserEvent]:
        return user_aggregate.decide(state.user, command)

    def record(self, state: _Erasable, command: Erase, events: Sequence[UserEvent]) -> Changes:
        if not events:
            assert state.erased is not None  # decide appends nothing only once erased
            return Changes(StoredResponse(Outcome.ACCEPTED, _erasure_view(state.erased.to_dict())))
        user, user_id = state.user, command.user_id
        assert user is not None  # decide raised NotFound otherwise
        # Times never go backwards along versions, whatever the writers' clocks say.
        time = max(self._clock.now(), user.last_time)
        envelopes = [
            new_event(data, subject=user_id, version=user.version + i, time=time)
            for i, data in enumerate(events, 1)
        ]
        redacted: dict[str, Any] = dict.fromkeys(sorted(PERSONAL_FIELDS), REDACTED)
        shred = self._keys.delete(user_id)["Delete"]
        writes: list[Put | Update | Delete] = [
            Update(
                self._users.name,
                {"pk": user_pk(user_id)},
                {**redacted, "erased": True, "erased_at": format_time(time)},
            ),
            Delete(shred["TableName"], shred["Key"]),
        ]
        if state.item.get("email_lock"):
            writes.append(Delete(self._users.name, {"pk": state.item["email_lock"]}))
        body = _erasure_view(envelopes[0].to_dict())
        return Changes(StoredResponse(Outcome.ACCEPTED, body), envelopes, writes)


class UserRegistry:
    """Registers, reads and erases users.

    Personal fields are sealed with the user's own data key everywhere they
    are stored (users table, ledger event, idempotency record); responses are
    opened on the way out.
    """

    def __init__(
        self,
        users: Items,
        ledger: EventStore,
        runner: CommandRunner,
        keys: DataKeyStore,
        vault: PersonalDataVault | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._users = users
        self._ledger = ledger
        self._runner = runner
        self._keys = keys
        self._vault = vault or PersonalDataVault(keys)
        self._clock = clock

    def open(self, view: dict[str, Any]) -> dict[str, Any]:
        """A user view with its personal fields decrypted (or redacted once erased)."""
        return self._vault.open(view["id"], view, PERSONAL_FIELDS)

    def register(
        self,
        user_id: str,
        request: RegisterUser,
        identity_email: str | None,
        *,
        scope: str,
        idempotency_key: IdempotencyKey | None = None,
    ) -> StoredResponse:
        """Create the user ``user_id`` with its identity's verified email (201).

        The preconditions of ``registration_email`` first; then
        Conflict(already_registered) if that identity registered before
        (erased or not), Conflict(email_taken) if another user has the email.
        ``scope`` is the route's. The response body is sealed like the stored
        copies: pass it through ``open``.
        """
        email = registration_email(request, identity_email)
        command = Register(
            user_id=user_id,
            name=request.name,
            lastname=request.lastname,
            email=email,
            address=request.address,
            loyalty=request.loyalty,
            marketing=request.consents.marketing,
        )
        handler = _Registration(self._users, self._keys, self._vault, self._clock)
        response = self._runner.run(handler, command, scope=scope, idempotency_key=idempotency_key)
        if handler.generated is not None and response is handler.generated[0]:
            # This call's decision committed, so its key is the user's: opening the
            # response (and anything else in this process) needs no KMS round trip.
            self._keys.committed(user_id, handler.generated[1])
        return response

    def erase(
        self, user_id: str, *, scope: str, idempotency_key: IdempotencyKey | None = None
    ) -> StoredResponse:
        """Shred the user's key and record ``user.erased`` (202); a second erasure is a no-op."""
        handler = _Erasure(self._users, self._ledger, self._keys, self._clock)
        response = self._runner.run(
            handler, Erase(user_id), scope=scope, idempotency_key=idempotency_key
        )
        self._keys.forget(user_id)
        return response

    def get(self, user_id: str, *, consistent: bool = False) -> dict[str, Any]:
        """The stored user, opened; NotFound if there is none."""
        item = self._users.get({"pk": user_pk(user_id)}, consistent=consistent)
        if item is None:
            raise NotFound(f"user {user_id} not found")
        return self.open(user_view(item))

    def exists(self, user_id: str) -> bool:
        """Whether ``user_id`` is a registered person who has not been erased.

        The one rule of every command about a person: an erased person is as
        unknown as one who never registered.
        """
        item = self._users.get({"pk": user_pk(user_id)})
        return item is not None and not item.get("erased", False)


def _erasure_view(event: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "user_id": event["subject"],
        "status": "erased",
        "erased_at": event["time"],
        "event_id": event["id"],
    }
