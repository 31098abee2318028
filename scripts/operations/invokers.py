"""Invoking a deployed function (AWS Lambda) or its handler in this process (local stack)."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

__all__ = ["InProcessInvoker", "LambdaInvoker"]


class LambdaInvoker:
    """Invokes a function by name through the Lambda API; raises on a function error."""

    def __init__(self, lambda_client: Any) -> None:
        self._lambda = lambda_client

    def __call__(self, function: str, event: dict[str, Any]) -> None:
        response = self._lambda.invoke(
            FunctionName=function,
            InvocationType="RequestResponse",
            Payload=json.dumps(event).encode(),
        )
        if response.get("FunctionError"):
            raise RuntimeError(f"{function} failed: {response['Payload'].read()[:500]!r}")


class InProcessInvoker:
    """Calls the Chalice handler a function name stands for, as the local stack does.

    Function names are ``<app>-<stage>-<handler>``; the handler is found in
    the app's handler map.
    """

    def __init__(self, app_module: ModuleType, context: Any = None) -> None:
        self._app = app_module.app
        self._context = context

    def __call__(self, function: str, event: dict[str, Any]) -> None:
        names = [n for n in self._app.handler_map if function.endswith(f"-{n}")]
        if not names:
            raise LookupError(f"no handler of {self._app.app_name} for function {function}")
        handler = self._app.handler_map[max(names, key=len)]
        handler(event, self._context)
