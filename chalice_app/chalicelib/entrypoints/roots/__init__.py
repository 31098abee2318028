"""The composition root of each role a Lambda function plays, imported on first use.

Every function of the app imports app.py, but each plays one role: the API,
the ledger relay, the fan-out, the projector, an SQS subscriber, search, the
late search redaction. A role's module builds its domain objects from
settings and the boto3 getters (chalicelib.adapters.aws) and holds the one function
app.py calls per handler. Were they imported with app.py, every function
would import what any of them needs (the API's models, OpenAPI, PyJWT,
cryptography, the search transport) on each cold start. So ``roots.<role>``
imports the role's module the first time it is used: this is the one place
the app imports lazily.
``roots.vault`` (cryptography) is reached the same way, only by what opens
personal data (the subscribers declaring Need.OPEN_PERSONAL_DATA, the search
transform, the API).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # What mypy sees; at run time __getattr__ imports each on first use.
    from chalicelib.entrypoints.roots import (
        api,
        fanout,
        late_redaction,
        projector,
        relay,
        replay,
        search,
        subscribers,
        vault,
    )

__all__ = [
    "api",
    "fanout",
    "late_redaction",
    "projector",
    "relay",
    "replay",
    "search",
    "subscribers",
    "vault",
]


def __getattr__(name: str) -> ModuleType:
    # PEP 562: called only for names not set yet; importing a submodule sets
    # it as an attribute of this package, so each role is imported once.
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return importlib.import_module(f"{__name__}.{name}")
