"""User commands (register, erase, loyalty, consents): pure decide, and the services on fakes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.adapters.idempotency import IdempotencyKey, Outcome
from chalicelib.domain.events import UserCreated, UserErased
from chalicelib.domain.exceptions import Conflict, Forbidden, NotFound, Unprocessable
from chalicelib.domain.personal_fields import REDACTED, is_sealed
from chalicelib.domain.user_aggregate import (
    ChangeConsents,
    ChangeLoyalty,
    Erase,
    Register,
    UserState,
    decide,
)
from chalicelib.service.users import RegisterUser, user_pk
from tests.fakes import KEYS_TABLE, START, USERS_TABLE, Services, services

ADA = RegisterUser(
    name="Ada",
    lastname="Lovelace",
    address={"street": "12 St James's Square", "city": "London"},
    loyalty=True,
    consents={"marketing": True},
)
STATE = UserState("ada", version=1, loyalty=True, marketing=True, last_time=START)


def _registered(email: str = "ada@example.com") -> Services:
    world = services()
    world.users.register("ada", ADA, email, scope="POST /users")
    return world


# The aggregate: pure.


def test_registering_decides_user_created_once_per_identity() -> None:
    # GIVEN a new identity / one that registered (even if erased since)
    command = Register("ada", "Ada", "Lovelace", "ada@example.com", "x", loyalty=True)
    # WHEN registration is decided
    (event,) = decide(None, command)
    # THEN it creates the user with what was asked; a second time is already_registered
    assert isinstance(event, UserCreated)
    assert (event.user_id, event.email, event.loyalty, event.marketing) == (
        "ada",
        "ada@example.com",
        True,
        False,
    )
    for state in (STATE, UserState("ada", 2, False, False, START, erased=True)):
        with pytest.raises(Conflict) as raised:
            decide(state, command)
        assert raised.value.code == "already_registered"


def test_erasing_decides_user_erased_once_with_what_the_fan_out_needs() -> None:
    # GIVEN a member who consented to marketing
    # WHEN erasure is decided, then decided again once erased
    (event,) = decide(STATE, Erase("ada"))
    erased = UserState("ada", 2, True, True, START, erased=True)
    # THEN it carries loyalty and marketing (the consumers to reach), and then nothing
    assert event == UserErased(user_id="ada", loyalty=True, marketing=True)
    assert decide(erased, Erase("ada")) == []
    with pytest.raises(NotFound):
        decide(None, Erase("ada"))


def test_an_erased_person_takes_no_lifecycle_change() -> None:
    erased = UserState("ada", 2, True, True, START, erased=True)
    for command in (ChangeLoyalty("ada", member=False), ChangeConsents("ada", marketing=False)):
        with pytest.raises(NotFound):
            decide(erased, command)


# Registration, on fakes.


def test_registration_commits_the_user_its_email_lock_its_key_and_the_event() -> None:
    # WHEN ada registers with her identity's email
    world = services()
    response = world.users.register("ada", ADA, "ada@example.com", scope="POST /users")
    # THEN one commit wrote the event at version 1, with personal fields sealed
    assert world.uow.commits == 1
    (event,) = world.ledger.events("ada")
    assert (event["type"], event["aggregateversion"]) == ("com.example.user.created", 1)
    assert all(is_sealed(event["data"][f]) for f in ("name", "lastname", "email", "address"))
    # AND the user item, the email lock (no email in clear) and the data key
    user = world.tables.table(USERS_TABLE).get({"pk": user_pk("ada")})
    assert user is not None and is_sealed(user["email"])
    locks = [i for i in world.tables.all(USERS_TABLE) if i["pk"].startswith("email#")]
    assert [lock["user_id"] for lock in locks] == ["ada"]
    assert "ada@example.com" not in locks[0]["pk"]
    assert world.tables.table(KEYS_TABLE).get({"user_id": "ada"}) is not None
    # AND the response opens to what was registered
    assert response.outcome is Outcome.CREATED
    opened = world.users.open(response.body)
    assert (opened["id"], opened["email"], opened["address"]) == (
        "ada",
        "ada@example.com",
        ADA.address,
    )


def test_a_second_registration_of_an_identity_is_already_registered() -> None:
    world = _registered()
    with pytest.raises(Conflict) as raised:
        world.users.register("ada", ADA, "ada@example.com", scope="POST /users")
    assert raised.value.code == "already_registered"
    assert world.ledger.count() == 1


def test_another_identity_with_the_same_email_is_email_taken_case_insensitively() -> None:
    # GIVEN ada registered
    world = _registered()
    # WHEN another identity registers the same address, differently cased
    with pytest.raises(Conflict) as raised:
        world.users.register("eve", ADA, "ADA@Example.com", scope="POST /users")
    # THEN it is email_taken, and nothing of eve's was written
    assert raised.value.code == "email_taken"
    assert world.ledger.raw_events("eve") == []
    assert world.tables.table(USERS_TABLE).get({"pk": user_pk("eve")}) is None


def test_the_identitys_email_is_a_precondition() -> None:
    # GIVEN no verified email / a body naming another email
    world = services()
    other = ADA.model_copy(update={"email": "grace@example.com"})
    # WHEN registering
    # THEN 403 email_not_verified / 422 email_mismatch, before anything is loaded or written
    with pytest.raises(Forbidden):
        world.users.register("ada", ADA, None, scope="POST /users")
    with pytest.raises(Unprocessable) as mismatch:
        world.users.register("ada", other, "ada@example.com", scope="POST /users")
    assert mismatch.value.code == "email_mismatch"
    assert (world.ledger.count(), world.uow.commits) == (0, 0)


def test_a_registration_key_answers_the_first_response() -> None:
    world = services()
    key = IdempotencyKey(caller="ada", key="k", fingerprint="f")
    first = world.users.register(
        "ada", ADA, "ada@example.com", idempotency_key=key, scope="POST /users"
    )
    again = world.users.register(
        "ada", ADA, "ada@example.com", idempotency_key=key, scope="POST /users"
    )
    assert again == first
    assert world.ledger.count() == 1


# Erasure, on fakes.


def test_erasure_shreds_the_key_redacts_the_user_frees_the_email_and_records_it_once() -> None:
    # GIVEN ada, registered an hour ago
    world = _registered()
    world.clock.advance(timedelta(hours=1))
    # WHEN she is erased, twice
    first = world.users.erase("ada", scope="POST /gdpr/erasure/ada")
    second = world.users.erase("ada", scope="POST /gdpr/erasure/ada")
    # THEN user.erased is version 2, stamped now; the second erasure answers the same
    events = world.ledger.events("ada")
    assert [e["type"] for e in events] == ["com.example.user.created", "com.example.user.erased"]
    assert events[1]["time"] == "2026-05-01T10:00:00.000000Z"
    assert first == second
    assert first.outcome is Outcome.ACCEPTED
    assert first.body == {
        "user_id": "ada",
        "status": "erased",
        "erased_at": events[1]["time"],
        "event_id": events[1]["id"],
    }
    # AND the key is gone, the user redacted and erased, the email free again
    assert world.tables.table(KEYS_TABLE).get({"user_id": "ada"}) is None
    user = world.users.get("ada")
    assert (user["email"], user["erased"]) == (REDACTED, True)
    assert not world.users.exists("ada")
    world.users.register("ada-2", ADA, "ada@example.com", scope="POST /users")


def test_erasing_an_unknown_person_is_not_found() -> None:
    with pytest.raises(NotFound):
        services().users.erase("nobody", scope="s")


# Lifecycle, on fakes.


def test_a_lifecycle_change_appends_its_event_and_updates_the_user_alike() -> None:
    # GIVEN ada, a member who consented
    world = _registered()
    # WHEN she leaves loyalty and withdraws consent, then asks to leave again
    world.lifecycle.change(ChangeLoyalty("ada", member=False), scope="PUT /users/ada/loyalty")
    view = world.lifecycle.change(
        ChangeConsents("ada", marketing=False), scope="PUT /users/ada/consents"
    )
    again = world.lifecycle.change(ChangeLoyalty("ada", member=False), scope="l")
    # THEN two events were appended, and the user shows both
    types = [e["type"] for e in world.ledger.events("ada")]
    assert types == [
        "com.example.user.created",
        "com.example.user.loyalty_left",
        "com.example.user.consents_changed",
    ]
    assert (view["loyalty"], view["consents"]) == (False, {"marketing": False})
    assert again == view
    user = world.tables.table(USERS_TABLE).get({"pk": user_pk("ada")})
    assert user is not None and user["version"] == 3


def test_event_times_never_go_back_along_versions() -> None:
    # GIVEN a clock that is behind ada's registration (another writer's clock ran ahead)
    world = _registered()
    world.clock.advance(timedelta(minutes=-5))
    # WHEN she leaves loyalty
    world.lifecycle.change(ChangeLoyalty("ada", member=False), scope="l")
    # THEN the new event is stamped no earlier than the registration
    created, left = world.ledger.events("ada")
    assert left["time"] == created["time"]


def test_a_change_that_lost_the_race_is_decided_on_fresh_state() -> None:
    # GIVEN a rival that withdraws consent between our load and our commit
    world = _registered()
    world.uow.before_commit = lambda: world.lifecycle.change(
        ChangeConsents("ada", marketing=False), scope="rival"
    )
    # WHEN we leave loyalty
    view = world.lifecycle.change(ChangeLoyalty("ada", member=False), scope="ours")
    # THEN both are in the ledger at contiguous versions, and the user shows both
    events = world.ledger.events("ada")
    assert [(e["type"], e["aggregateversion"]) for e in events] == [
        ("com.example.user.created", 1),
        ("com.example.user.consents_changed", 2),
        ("com.example.user.loyalty_left", 3),
    ]
    assert (view["loyalty"], view["consents"]) == (False, {"marketing": False})


def test_an_erased_or_unknown_user_takes_no_change() -> None:
    world = _registered()
    world.users.erase("ada", scope="s")
    for user_id in ("ada", "nobody"):
        with pytest.raises(NotFound):
            world.lifecycle.change(ChangeLoyalty(user_id, member=False), scope="l")
    assert len(world.ledger.events("ada")) == 2
