"""The API's success bodies, each passed through its route's response model.

Reached by the HTTP edge (chalicelib.entrypoints.http) on the first success
body; it imports the response models alone (pydantic), no route's code.
"""

from __future__ import annotations

from typing import Any

from chalicelib.entrypoints.api_models import RESPONSES

__all__ = ["shape_body"]


def shape_body(view_name: str, status_code: int, body: Any) -> Any:
    """``body`` as the route's response model for ``status_code`` dumps it (api_models).

    What is sent is what the OpenAPI document describes; a body passes
    through unchanged when it conforms or the route declares no model.
    """
    model = RESPONSES.get(view_name, {}).get(status_code)
    if model is None:
        return body
    return model.model_validate(body).model_dump(mode="json", exclude_unset=True)
