"""Who may do what: the caller, the public routes and one access rule per operation.

Every service function the API calls takes the ``Caller`` first and carries
its rule in one ``@authorize(...)`` line, checked before the function runs:

- ``ANY_CALLER``: any verified caller (registering oneself, opening an account);
- ``person("user_id")``: the person whose id is that argument;
- ``owner(lookup, "account_id")``: the person ``lookup`` names as the owner;
- ``acting_for("owner_id")``: for oneself only (403 for another person);
- ``group(ADMIN)``: members of a group only (403 for everyone else).

``admin`` passes every rule. A caller who may not see a resource gets the
same 404 as for one that does not exist, so ids cannot be probed.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

import msgspec

from chalicelib.domain.exceptions import Forbidden, NotFound

__all__ = [
    "ADMIN",
    "ANY_CALLER",
    "MARKETING",
    "PUBLIC_ROUTES",
    "Caller",
    "Rule",
    "acting_for",
    "authorize",
    "group",
    "is_public",
    "owner",
    "person",
    "rule_of",
]

# Groups of the user pool (resources.USER_POOL.groups) that the rules name.
ADMIN = "admin"
MARKETING = "marketing"

# (method, route) pairs that answer without a token; every other route needs one.
PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {("GET", "/health"), ("GET", "/openapi.json")}
)

FunctionT = TypeVar("FunctionT", bound=Callable[..., Any])


def is_public(method: str, route: str) -> bool:
    """Whether ``method route`` (the route pattern, e.g. ``/users/{user_id}``) is public."""
    return (method.upper(), route) in PUBLIC_ROUTES


class Caller(msgspec.Struct, frozen=True):
    """A verified caller: the token's ``sub`` and ``cognito:groups``."""

    sub: str
    groups: frozenset[str] = msgspec.field(default_factory=frozenset)

    def in_any(self, groups: frozenset[str]) -> bool:
        return not self.groups.isdisjoint(groups)

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.groups


class Rule(Protocol):
    """Raises NotFound or Forbidden unless ``caller`` may call with ``arguments``."""

    def check(self, caller: Caller, arguments: Mapping[str, Any]) -> None: ...


def _hidden(argument: str) -> NotFound:
    # One message per kind, never the id: a stranger's resource and an unknown
    # one answer with the same body.
    return NotFound(f"no such {argument.removesuffix('_id')}")


class _AnyCaller(msgspec.Struct, frozen=True):
    def check(self, caller: Caller, arguments: Mapping[str, Any]) -> None:
        return None


class _Group(msgspec.Struct, frozen=True):
    groups: frozenset[str]

    def check(self, caller: Caller, arguments: Mapping[str, Any]) -> None:
        if not (caller.is_admin or caller.in_any(self.groups)):
            raise Forbidden(f"this operation needs the group {' or '.join(sorted(self.groups))}")


class _Owner(msgspec.Struct, frozen=True):
    argument: str
    lookup: Callable[[str], str | None] | None = None
    also: frozenset[str] = frozenset()

    def check(self, caller: Caller, arguments: Mapping[str, Any]) -> None:
        if caller.is_admin or caller.in_any(self.also):
            return
        resource_id = arguments[self.argument]
        owner_id = resource_id if self.lookup is None else self.lookup(resource_id)
        if owner_id != caller.sub:
            raise _hidden(self.argument)


class _ActingFor(msgspec.Struct, frozen=True):
    argument: str

    def check(self, caller: Caller, arguments: Mapping[str, Any]) -> None:
        if arguments[self.argument] != caller.sub and not caller.is_admin:
            raise Forbidden("only an admin may act for another person")


ANY_CALLER: Rule = _AnyCaller()


def group(*groups: str) -> Rule:
    """Only members of ``groups`` (and admins); 403 for anyone else."""
    return _Group(frozenset(groups))


def person(argument: str, *, also: tuple[str, ...] = ()) -> Rule:
    """Only the person whose id is ``argument`` (and admins and ``also`` groups); else 404."""
    return _Owner(argument, None, frozenset(also))


def owner(lookup: Callable[[str], str | None], argument: str) -> Rule:
    """Only the owner ``lookup(arguments[argument])`` names (and admins); else 404."""
    return _Owner(argument, lookup)


def acting_for(argument: str) -> Rule:
    """Only for oneself (``argument`` is the caller's id), unless admin; else 403."""
    return _ActingFor(argument)


def authorize(rule: Rule) -> Callable[[FunctionT], FunctionT]:
    """Check ``rule`` before the decorated function, whose first parameter is the caller."""

    def decorate(function: FunctionT) -> FunctionT:
        signature = inspect.signature(function)
        if next(iter(signature.parameters)) != "caller":
            raise TypeError(f"{function.__name__} must take the caller first")

        @functools.wraps(function)
        def checked(*args: Any, **kwargs: Any) -> Any:
            arguments = signature.bind(*args, **kwargs).arguments
            caller = arguments["caller"]
            if not isinstance(caller, Caller):
                raise TypeError(f"{function.__name__} needs a Caller, got {type(caller).__name__}")
            rule.check(caller, arguments)
            return function(*args, **kwargs)

        checked.__access_rule__ = rule  # type: ignore[attr-defined]
        return checked  # type: ignore[return-value]

    return decorate


def rule_of(function: Callable[..., Any]) -> Rule | None:
    """The rule ``authorize`` attached to ``function``, if any."""
    return getattr(function, "__access_rule__", None)
