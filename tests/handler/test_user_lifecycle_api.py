"""PUT /users/{id}/loyalty and /consents: lifecycle events on the user aggregate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest

from chalicelib.adapters import aws
from chalicelib.adapters.dynamo_unit_of_work import DynamoItems, DynamoUnitOfWork
from chalicelib.adapters.idempotency import IdempotencyStore
from chalicelib.adapters.ledger import EventLedger
from chalicelib.adapters.personal_data import DataKeyStore
from chalicelib.domain.events import CloudEvent
from chalicelib.domain.user_aggregate import ChangeConsents, ChangeLoyalty
from chalicelib.service.commands import CommandRunner
from chalicelib.service.user_lifecycle import UserLifecycle
from chalicelib.service.users import UserRegistry
from chalicelib.settings import get_settings
from tests.handler.helpers import ApiClient, ledger_events, post_json, put_json, register


def test_joining_and_leaving_append_versioned_events(client: Any, aws_env: dict[str, str]) -> None:
    # GIVEN a user who registered outside the loyalty programme
    user = register(client, loyalty=False)
    # WHEN they join, then leave
    joined = put_json(client, f"/users/{user['id']}/loyalty", {"member": True})
    after_join = client.http.get(f"/users/{user['id']}").json_body
    left = put_json(client, f"/users/{user['id']}/loyalty", {"member": False})
    # THEN each answers 200 with the user as GET shows it
    assert joined.status_code == 200 and left.status_code == 200
    assert joined.json_body == after_join == {**user, "loyalty": True}
    assert left.json_body == client.http.get(f"/users/{user['id']}").json_body
    assert left.json_body["loyalty"] is False
    # AND the ledger holds the events at versions 2 and 3, times never going back
    events = ledger_events(aws_env, user["id"])
    assert [(e["type"], e["aggregateversion"]) for e in events] == [
        ("com.example.user.created", 1),
        ("com.example.user.loyalty_joined", 2),
        ("com.example.user.loyalty_left", 3),
    ]
    assert events[1]["data"] == {"user_id": user["id"]}
    assert [e["time"] for e in events] == sorted(e["time"] for e in events)


def test_changing_consents_records_the_previous_value(client: Any, aws_env: dict[str, str]) -> None:
    # GIVEN a user who gave marketing consent at registration
    user = register(client)
    # WHEN they withdraw it
    response = put_json(client, f"/users/{user['id']}/consents", {"marketing": False})
    # THEN 200 with the consents now withdrawn
    assert response.status_code == 200
    assert response.json_body == {**user, "consents": {"marketing": False}}
    # AND one consents_changed event carries the new and the previous value
    changed = ledger_events(aws_env, user["id"])[-1]
    assert (changed["type"], changed["aggregateversion"]) == (
        "com.example.user.consents_changed",
        2,
    )
    assert changed["data"] == {
        "user_id": user["id"],
        "marketing": False,
        "previous": {"marketing": True},
    }


@pytest.mark.parametrize(
    ("path", "body"),
    [("loyalty", {"member": True}), ("consents", {"marketing": True})],
)
def test_setting_the_current_value_appends_nothing(
    client: Any, aws_env: dict[str, str], path: str, body: dict[str, bool]
) -> None:
    # GIVEN a member who consented to marketing
    user = register(client)
    # WHEN the current value is set again, twice
    first = put_json(client, f"/users/{user['id']}/{path}", body)
    second = put_json(client, f"/users/{user['id']}/{path}", body)
    # THEN 200 with the same body both times, and the ledger still holds only user.created
    assert first.status_code == second.status_code == 200
    assert first.json_body == second.json_body == user
    assert len(ledger_events(aws_env, user["id"])) == 1


@pytest.mark.parametrize("path", ["loyalty", "consents"])
def test_unknown_and_erased_users_are_404(client: Any, aws_env: dict[str, str], path: str) -> None:
    # GIVEN an erased user
    user = register(client)
    assert post_json(client, f"/gdpr/erasure/{user['id']}", {}).status_code == 202
    body = {"member": False} if path == "loyalty" else {"marketing": False}
    # WHEN either is changed
    for user_id in (user["id"], "nobody"):
        response = put_json(client, f"/users/{user_id}/{path}", body)
        # THEN 404 in the documented shape, and nothing is appended
        assert response.status_code == 404, user_id
        assert set(response.json_body) == {"error", "message", "details"}
    assert len(ledger_events(aws_env, user["id"])) == 2


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("loyalty", {}, "member"),
        ("loyalty", {"member": "true"}, "member"),
        ("loyalty", {"member": 1}, "member"),
        ("loyalty", {"member": None}, "member"),
        ("consents", {"marketing": "no"}, "marketing"),
        ("consents", {"member": True}, "marketing"),
        ("consents", [True], "body"),
        ("consents", "{not json", "body"),
        ("loyalty", "", "body"),
    ],
)
def test_bad_bodies_are_400_with_details(
    client: Any, aws_env: dict[str, str], path: str, body: Any, field: str
) -> None:
    # GIVEN a registered user
    user = register(client)
    # WHEN a bad body is sent
    response = put_json(client, f"/users/{user['id']}/{path}", body)
    # THEN 400 naming the field, and nothing is appended
    assert response.status_code == 400
    assert response.json_body["error"] == "validation_error"
    assert field in {d["field"] for d in response.json_body["details"]}
    assert len(ledger_events(aws_env, user["id"])) == 1


def test_an_overlong_user_id_is_404(client: Any) -> None:
    # A valid body for an id longer than any this API issues: 404, never a 500.
    response = put_json(client, "/users/" + "x" * 300 + "/loyalty", {"member": True})
    assert response.status_code == 404


class _RacingLedger(EventLedger):
    """A ledger where another writer commits a change right after the first load."""

    def __init__(self, table: Any, rival: UserLifecycle, user_id: str) -> None:
        super().__init__(table)
        self._rival: UserLifecycle | None = rival
        self._user_id = user_id

    def load(self, aggregate_id: str, *, after_version: int = 0) -> list[CloudEvent]:
        events = super().load(aggregate_id, after_version=after_version)
        rival, self._rival = self._rival, None
        if rival is not None:
            rival.change(ChangeConsents(self._user_id, marketing=False), scope="rival")
        return events


def test_a_concurrent_change_is_retried_on_fresh_state(
    client: Any, aws_env: dict[str, str]
) -> None:
    # GIVEN a user, and a rival writer that withdraws consent between our load and append
    user = register(client, loyalty=False)
    ledger_table = aws.table("ledger")

    def lifecycle(ledger: EventLedger) -> UserLifecycle:
        store = IdempotencyStore(aws.table("idempotency"), 60)
        runner = CommandRunner(DynamoUnitOfWork(ledger_table, store))
        keys = boto3.resource("dynamodb").Table(aws_env["PERSONAL_DATA_KEYS_TABLE"])
        users = DynamoItems(aws.table("users"))
        registry = UserRegistry(users, ledger, runner, _keys(keys))
        return UserLifecycle(users, ledger, runner, registry)

    rival = lifecycle(EventLedger(ledger_table))
    ours = lifecycle(_RacingLedger(ledger_table, rival, user["id"]))
    # WHEN we join
    view = ours.change(ChangeLoyalty(user["id"], member=True), scope="test")
    # THEN both changes are in the ledger at contiguous versions, ours decided on fresh state
    events = ledger_events(aws_env, user["id"])
    assert [(e["type"], e["aggregateversion"]) for e in events] == [
        ("com.example.user.created", 1),
        ("com.example.user.consents_changed", 2),
        ("com.example.user.loyalty_joined", 3),
    ]
    # AND the user shows both
    assert (view["loyalty"], view["consents"]) == (True, {"marketing": False})


def _keys(table: Any) -> DataKeyStore:
    return DataKeyStore(table, aws.client("kms"), get_settings().personal_data_kms_key)


@pytest.mark.parametrize(
    ("path", "body"), [("loyalty", {"member": False}), ("consents", {"marketing": False})]
)
def test_only_the_person_or_an_admin_may_change_them(
    client: ApiClient,
    as_caller: Callable[..., ApiClient],
    admin: ApiClient,
    anonymous: Any,
    aws_env: dict[str, str],
    path: str,
    body: dict[str, bool],
) -> None:
    # GIVEN ada, a member who consented to marketing
    user = register(client)
    url = f"/users/{user['id']}/{path}"
    # WHEN another person, or nobody, tries to change it
    stranger = put_json(as_caller("grace"), url, body)
    nobody = put_json(anonymous, url, body)
    # THEN 404 as if unknown, 401 without a token, and nothing is appended
    assert stranger.status_code == 404 and stranger.json_body["error"] == "not_found"
    assert nobody.status_code == 401
    assert len(ledger_events(aws_env, user["id"])) == 1
    # WHEN an admin changes it THEN it is changed
    assert put_json(admin, url, body).status_code == 200
    assert len(ledger_events(aws_env, user["id"])) == 2
