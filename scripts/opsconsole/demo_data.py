"""Demo data for ``make console``: a few people with accounts, purchases and changes.

Everything goes through the API over HTTP, each person with their own identity
from the local stack's user pool, so the console shows what real use leaves.
"""

from __future__ import annotations

import uuid
from typing import Any

import requests

from local_aws.identities import UserPoolIdentities
from local_aws.stack_process import LocalStackProcess

__all__ = ["PEOPLE", "seed"]

# (loyalty, marketing, deposits, withdrawals, purchases)
PEOPLE: list[tuple[bool, bool, list[str], list[str], list[str]]] = [
    (True, True, ["120.00", "35.50", "80.00"], ["42.25"], ["19.99", "5.00"]),
    (False, True, ["500.00", "12.00"], ["100.00", "50.00"], ["249.00"]),
    (True, False, ["20.00", "20.00", "20.00", "20.00"], ["15.00"], []),
]


def seed(stack: LocalStackProcess) -> dict[str, Any]:
    """Register the demo people and run their commands; ids of what was created."""
    identities = UserPoolIdentities.for_local_stack(stack.aws_port, stack.state_dir)
    created: dict[str, Any] = {"users": [], "accounts": []}
    with requests.Session() as http:

        def call(path: str, body: dict[str, Any], token: str, method: str = "POST") -> Any:
            response = http.request(
                method,
                f"{stack.api_url}{path}",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            response.raise_for_status()
            return response.json()

        for n, (loyal, marketing, deposits, withdrawals, purchases) in enumerate(PEOPLE, 1):
            email = f"console-demo-{n}-{uuid.uuid4().hex[:6]}@example.com"
            token = identities.token(email)
            user = call(
                "/users",
                {
                    "name": f"Demo{n}",
                    "lastname": "Person",
                    "email": email,
                    "address": f"{n} Console Street",
                    "loyalty": loyal,
                    "consents": {"marketing": marketing},
                },
                token,
            )
            created["users"].append(user["id"])
            account = call("/accounts", {"currency": "EUR"}, token)
            created["accounts"].append(account["id"])
            for amount in deposits:
                call(f"/accounts/{account['id']}/deposits", {"amount": amount}, token)
            for amount in withdrawals:
                call(f"/accounts/{account['id']}/withdrawals", {"amount": amount}, token)
            for i, amount in enumerate(purchases):
                call(
                    f"/users/{user['id']}/purchases",
                    {"order_id": f"demo-{n}-{i}", "amount": amount, "currency": "EUR"},
                    token,
                )
            if n == 3:
                call(f"/users/{user['id']}/loyalty", {"member": False}, token, "PUT")
                call(f"/users/{user['id']}/consents", {"marketing": True}, token, "PUT")
    return created
