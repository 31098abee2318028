"""Personal data keys and the vault that opens sealed fields (imports cryptography)."""

from __future__ import annotations

from chalicelib.adapters import aws
from chalicelib.adapters.personal_data import DataKeyStore, PersonalDataVault
from chalicelib.settings import get_settings

__all__ = ["data_keys", "uncached_vault", "vault"]


def data_keys(*, cached: bool = True) -> DataKeyStore:
    """The per-user data keys (KMS-encrypted, one item per user)."""
    return DataKeyStore(
        aws.table("personal_data_keys"),
        aws.client("kms"),
        get_settings().personal_data_kms_key,
        cached=cached,
    )


def vault() -> PersonalDataVault:
    """Seals and opens personal fields with the person's data key."""
    return PersonalDataVault(data_keys())


def uncached_vault() -> PersonalDataVault:
    """A vault that reads the person's key on every open: none opens after an erasure."""
    return PersonalDataVault(data_keys(cached=False))
