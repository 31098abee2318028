"""The composition root of each role a Lambda function plays, imported on first use.

Every function of the app imports app.py, but each plays one role: the
ledger relay, the fan-out, the projector, an SQS subscriber, search, the
late search redaction, the API. A role's module builds its domain objects
from settings and the boto3 getters (chalicelib.adapters.aws) and holds the
one function app.py calls per handler. Were they imported with app.py, every
function would import what any of them needs (the API's models, OpenAPI,
token verification, cryptography, the search transport) on each cold start. So
``roots.<role>`` imports the role's module the first time it is used: this
is the one place the app imports lazily.

The API is split the same way, per route group, so that a request imports
what its route needs: ``users``, ``accounts``, ``consumer_views``,
``search_queries`` and ``document`` (OpenAPI) hold the routes' functions (the
route group of each route is the ``roots.<group>`` its view in app.py calls);
``caller`` (token verification: cryptography's RSA) is reached by every route but the
public ones, ``responses`` (the response models: pydantic) by every route
answering a success body but GET /health (a constant, edge.HEALTH_BODY).
``roots.vault`` (cryptography) is reached the same way, only by what opens
personal data (the subscribers declaring Need.OPEN_PERSONAL_DATA, the search
transform, the API's user registry).

A process that is known to run one function (in Lambda: app.py reads
``_HANDLER``) imports that function's roles up front instead, with
``preload``: ``reached_by`` reads them from the code of the handler (the
``roots.<role>`` it loads), so the roles are not declared a second time.
"""

from __future__ import annotations

import dis
import importlib
import sys
from collections.abc import Callable, Iterable
from types import CodeType, ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # What mypy sees; at run time __getattr__ imports each on first use.
    from chalicelib.entrypoints.roots import (
        accounts,
        caller,
        consumer_views,
        document,
        fanout,
        late_redaction,
        projector,
        relay,
        replay,
        responses,
        search,
        search_queries,
        subscribers,
        users,
        vault,
    )

__all__ = [
    "accounts",
    "caller",
    "consumer_views",
    "document",
    "fanout",
    "late_redaction",
    "projector",
    "relay",
    "replay",
    "responses",
    "search",
    "search_queries",
    "subscribers",
    "users",
    "vault",
]


def __getattr__(name: str) -> ModuleType:
    # PEP 562: called only for names not set yet; importing a submodule sets
    # it as an attribute of this package, so each role is imported once.
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return importlib.import_module(f"{__name__}.{name}")


def reached_by(function: Callable[..., object]) -> frozenset[str]:
    """The roles ``function`` reaches as ``roots.<role>``, read from its code (and its nested code).

    An attribute loaded from a global that is this package is a role: those
    the first call of ``function`` imports (with what their modules import).
    """
    package = sys.modules[__name__]
    roles: set[str] = set()
    codes = [function.__code__]
    while codes:
        code = codes.pop()
        codes.extend(const for const in code.co_consts if isinstance(const, CodeType))
        loads_package = False
        for instruction in dis.get_instructions(code):
            if loads_package and instruction.argval in __all__:
                roles.add(instruction.argval)
            loads_package = (
                instruction.opname == "LOAD_GLOBAL"
                and function.__globals__.get(instruction.argval) is package
            )
    return frozenset(roles)


def preload(roles: Iterable[str]) -> None:
    """Import ``roles`` now, rather than on first use."""
    for role in roles:
        __getattr__(role)
