"""The event vocabulary: CloudEvents ``type`` of every platform event.

A leaf module (no imports), shared by the pure folds here and by chalicelib's
event models, so that dependencies run one way: projections <- chalicelib.
"""

from __future__ import annotations

__all__ = [
    "ACCOUNT_DEPOSITED",
    "ACCOUNT_OPENED",
    "ACCOUNT_WITHDRAWN",
    "PURCHASE_MADE",
    "USER_CONSENTS_CHANGED",
    "USER_CREATED",
    "USER_ERASED",
    "USER_LOYALTY_JOINED",
    "USER_LOYALTY_LEFT",
    "USER_TYPES",
]

USER_CREATED = "com.example.user.created"
USER_ERASED = "com.example.user.erased"
USER_LOYALTY_JOINED = "com.example.user.loyalty_joined"
USER_LOYALTY_LEFT = "com.example.user.loyalty_left"
USER_CONSENTS_CHANGED = "com.example.user.consents_changed"
# Every event of the user aggregate (versions 1, 2, 3 ... per user).
USER_TYPES = frozenset(
    {USER_CREATED, USER_ERASED, USER_LOYALTY_JOINED, USER_LOYALTY_LEFT, USER_CONSENTS_CHANGED}
)
PURCHASE_MADE = "com.example.purchase.made"
ACCOUNT_OPENED = "com.example.account.opened"
ACCOUNT_DEPOSITED = "com.example.account.deposited"
ACCOUNT_WITHDRAWN = "com.example.account.withdrawn"
