"""roots.reached_by reads a handler's roles from its code: the ``roots.<role>`` it loads."""

from __future__ import annotations

from typing import Any

from chalicelib.entrypoints import roots

# A global that is not the package.
other: Any = object()


def _calls_two_roles(event: Any) -> Any:
    roots.users.get_user(event, "user")
    return roots.caller.verify_caller(event)


def _calls_its_role_in_a_nested_function(event: Any) -> Any:
    def inner() -> Any:
        return roots.projector.project_records([record for record in event])

    return inner


def _names_a_role_on_something_else(event: Any) -> Any:
    users = event.users  # attributes named like roles, not loaded from roots
    return other.search, users


def _uses_roots_but_no_role() -> Any:
    return roots.preload(())


def test_the_roles_a_function_loads_from_roots_are_its_roles() -> None:
    # WHEN a function calls two roles' code THEN both are its roles
    assert roots.reached_by(_calls_two_roles) == {"users", "caller"}
    # AND a nested function's (a closure, a comprehension) count too
    assert roots.reached_by(_calls_its_role_in_a_nested_function) == {"projector"}


def test_a_name_is_a_role_only_when_loaded_from_roots() -> None:
    # WHEN a function names a role on another object, or uses roots for something else
    # THEN it reaches no role
    assert roots.reached_by(_names_a_role_on_something_else) == frozenset()
    assert roots.reached_by(_uses_roots_but_no_role) == frozenset()
