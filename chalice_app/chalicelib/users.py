"""User registration: validation, email uniqueness and the UserCreated event.

The user item, the email lock and the event are written in one DynamoDB
transaction, so the event exists in the ledger if and only if the
registration committed.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StrictBool, StringConstraints

from chalicelib.commands import CommandRunner, Decision
from chalicelib.dynamo import transact_put
from chalicelib.events import Consents, UserCreated, new_event
from chalicelib.exceptions import Conflict, NotFound
from chalicelib.idempotency import StoredResponse

__all__ = ["RegisterUser", "UserRegistry", "user_view"]

Name = Annotated[
    str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=100)
]
AddressLine = Annotated[
    str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=500)
]
AddressPart = Annotated[str, StringConstraints(strict=True, max_length=200)]


class RequestConsents(BaseModel):
    model_config = ConfigDict(extra="forbid")
    marketing: StrictBool = False


class RegisterUser(BaseModel):
    """The body of ``POST /users``."""

    model_config = ConfigDict(extra="ignore")

    name: Name
    lastname: Name
    email: Annotated[EmailStr, Field(max_length=254)]
    address: AddressLine | Annotated[dict[str, AddressPart], Field(min_length=1, max_length=20)]
    loyalty: StrictBool = False
    consents: RequestConsents = RequestConsents()


def _user_pk(user_id: str) -> str:
    return f"user#{user_id}"


def _email_pk(email: str) -> str:
    return f"email#{email.lower()}"


def user_view(item: dict[str, Any]) -> dict[str, Any]:
    """The public representation of a stored user."""
    return {
        "id": item["id"],
        "name": item["name"],
        "lastname": item["lastname"],
        "email": item["email"],
        "address": item["address"],
        "loyalty": bool(item["loyalty"]),
        "consents": {"marketing": bool(item["consents"]["marketing"])},
        "created_at": item["created_at"],
    }


class UserRegistry:
    """Registers and reads users; takes the users Table resource and a CommandRunner."""

    def __init__(self, users_table: Any, runner: CommandRunner) -> None:
        self._users = users_table
        self._runner = runner

    def register(self, request: RegisterUser, idempotency_key: str | None = None) -> StoredResponse:
        """Create the user (201); Conflict(email_taken) if the email is registered."""
        user_id = str(uuid.uuid4())

        def decide() -> Decision:
            event = new_event(
                UserCreated(
                    user_id=user_id,
                    name=request.name,
                    lastname=request.lastname,
                    email=request.email,
                    address=request.address,
                    loyalty=request.loyalty,
                    consents=Consents(marketing=request.consents.marketing),
                ),
                subject=user_id,
                version=1,
            )
            user = {
                "pk": _user_pk(user_id),
                "id": user_id,
                "name": request.name,
                "lastname": request.lastname,
                "email": request.email,
                "address": request.address,
                "loyalty": request.loyalty,
                "consents": {"marketing": request.consents.marketing},
                "created_at": event.to_dict()["time"],
                "version": 1,
            }
            lock = {"pk": _email_pk(request.email), "user_id": user_id}
            new_item = "attribute_not_exists(pk)"
            email_taken = Conflict(
                "a user with this email already exists",
                code="email_taken",
                details=[{"field": "email", "message": "already registered"}],
            )
            return Decision(
                response=StoredResponse(201, user_view(user)),
                events=[event],
                guards=[
                    transact_put(self._users.name, user, new_item),
                    transact_put(self._users.name, lock, new_item),
                ],
                guard_errors={1: email_taken},
            )

        return self._runner.run(decide, scope="POST /users", idempotency_key=idempotency_key)

    def get(self, user_id: str) -> dict[str, Any]:
        """The stored user; NotFound if there is none."""
        item = self._users.get_item(Key={"pk": _user_pk(user_id)}).get("Item")
        if item is None:
            raise NotFound(f"user {user_id} not found")
        return user_view(item)

    def exists(self, user_id: str) -> bool:
        item = self._users.get_item(Key={"pk": _user_pk(user_id)}, ProjectionExpression="pk")
        return "Item" in item
