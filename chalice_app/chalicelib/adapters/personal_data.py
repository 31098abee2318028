"""Crypto-shredding: personal fields are encrypted with a key that belongs to the person.

Each user gets a data key (envelope encryption: AES-256 data key generated
and encrypted by a KMS key; only the encrypted form is stored, one item per
user). Personal fields of events and of the users table are sealed with
AES-GCM under that key, bound to the user and the field name. Erasure deletes
the key item: every copy of the ciphertext (ledger, stream, archive, queues,
backups) becomes unreadable, and readers see REDACTED instead of an error.
"""

from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chalicelib.domain.personal_fields import REDACTED, SEALED_PREFIX, is_sealed

__all__ = [
    "REDACTED",
    "SEALED_PREFIX",
    "DataKeyStore",
    "PersonalDataVault",
    "forget_all_keys",
    "is_sealed",
]

_NONCE_BYTES = 12
# Decrypted data keys are cached briefly: a KMS call per event would dominate
# consumers' cost; after an erasure other processes stop decrypting within this.
KEY_CACHE_SECONDS = 60.0
KEY_CACHE_MAX = 10_000
# Process-wide (Lambda reuses the process), keyed by (key table, user id).
_KEY_CACHE: dict[tuple[str, str], tuple[float, bytes]] = {}
_CACHE_LOCK = threading.Lock()


def forget_all_keys() -> None:
    """Drop every cached data key (a test switching to a fresh AWS account needs this)."""
    with _CACHE_LOCK:
        _KEY_CACHE.clear()


class DataKeyStore:
    """Per-user data keys: a DynamoDB table of KMS-encrypted keys, plus a short cache.

    ``cached=False`` reads the key item on every call (and never touches the
    cache): a reader that must stop opening fields the moment a key is deleted.
    """

    def __init__(self, table: Any, kms: Any, kms_key_id: str, *, cached: bool = True) -> None:
        self._table = table
        self._kms = kms
        self._kms_key_id = kms_key_id
        self._cached = cached

    def generate(self, user_id: str) -> tuple[bytes, dict[str, Any]]:
        """A new data key for ``user_id``: (plaintext key, transaction Put of its item)."""
        response = self._kms.generate_data_key(
            KeyId=self._kms_key_id,
            KeySpec="AES_256",
            EncryptionContext={"user_id": user_id},
        )
        item = {"user_id": user_id, "encrypted_key": response["CiphertextBlob"]}
        put = {
            "Put": {
                "TableName": self._table.name,
                "Item": item,
                "ConditionExpression": "attribute_not_exists(user_id)",
            }
        }
        # Not cached: until the transaction commits, another writer's key may win
        # (the committer calls ``committed``).
        return response["Plaintext"], put

    def key(self, user_id: str) -> bytes | None:
        """The user's plaintext data key, or None once erased."""
        if self._cached:
            now = time.monotonic()
            with _CACHE_LOCK:
                cached = _KEY_CACHE.get((self._table.name, user_id))
            if cached and cached[0] > now:
                return cached[1]
        item = self._table.get_item(Key={"user_id": user_id}, ConsistentRead=True).get("Item")
        if item is None:
            self.forget(user_id)
            return None
        plaintext: bytes = self._kms.decrypt(
            CiphertextBlob=bytes(item["encrypted_key"]),
            EncryptionContext={"user_id": user_id},
        )["Plaintext"]
        if self._cached:
            self._remember(user_id, plaintext)
        return plaintext

    def delete(self, user_id: str) -> dict[str, Any]:
        """The transaction Delete that shreds the user's key."""
        self.forget(user_id)
        return {"Delete": {"TableName": self._table.name, "Key": {"user_id": user_id}}}

    def forget(self, user_id: str) -> None:
        with _CACHE_LOCK:
            _KEY_CACHE.pop((self._table.name, user_id), None)

    def committed(self, user_id: str, key: bytes) -> None:
        """``key`` (from ``generate``) is the user's: its item was written; cache it."""
        self._remember(user_id, key)

    def _remember(self, user_id: str, key: bytes) -> None:
        with _CACHE_LOCK:
            if len(_KEY_CACHE) >= KEY_CACHE_MAX:
                _KEY_CACHE.clear()
            _KEY_CACHE[(self._table.name, user_id)] = (time.monotonic() + KEY_CACHE_SECONDS, key)


class PersonalDataVault:
    """Seals and opens personal fields with the owner's data key."""

    def __init__(self, keys: DataKeyStore) -> None:
        self._keys = keys

    @staticmethod
    def seal_with(
        key: bytes, user_id: str, data: Mapping[str, Any], fields: Iterable[str]
    ) -> dict[str, Any]:
        """``data`` with each of ``fields`` encrypted under ``key``."""
        aead = AESGCM(key)
        sealed = dict(data)
        for name in fields:
            if name not in sealed:
                continue
            nonce = os.urandom(_NONCE_BYTES)
            ciphertext = aead.encrypt(
                nonce, orjson.dumps(sealed[name]), f"{user_id}/{name}".encode()
            )
            sealed[name] = SEALED_PREFIX + base64.urlsafe_b64encode(nonce + ciphertext).decode()
        return sealed

    def open(self, user_id: str, data: Mapping[str, Any], fields: Iterable[str]) -> dict[str, Any]:
        """``data`` with sealed ``fields`` decrypted, or REDACTED once the key is gone."""
        opened = dict(data)
        names = [n for n in fields if is_sealed(opened.get(n))]
        if not names:
            return opened
        key = self._keys.key(user_id)
        aead = AESGCM(key) if key is not None else None
        for name in names:
            opened[name] = REDACTED if aead is None else _decrypt(aead, user_id, name, opened[name])
        return opened


def _decrypt(aead: AESGCM, user_id: str, name: str, token: str) -> Any:
    raw = base64.urlsafe_b64decode(token[len(SEALED_PREFIX) :])
    try:
        plaintext = aead.decrypt(
            raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], f"{user_id}/{name}".encode()
        )
    except InvalidTag:
        # Not this user's field (or tampered with): never leak, never crash readers.
        return REDACTED
    return orjson.loads(plaintext)
