"""Provision the Cognito user pool (resources.USER_POOL) as infra/modules/identity does.

The local stack runs this against moto server; the result is the four
environment variables through which the API finds the pool's issuer and keys
(the same names scripts/tf_outputs_to_chalice.py writes from Terraform).
"""

from __future__ import annotations

from typing import Any

import boto3

from chalicelib import resources
from chalicelib.resources import resource_name

__all__ = ["ADVANCED_SECURITY_MODE", "issuer", "jwks_url", "provision_user_pool"]

# infra/variables.tf `cognito_advanced_security_mode` default (the Plus plan).
ADVANCED_SECURITY_MODE = "ENFORCED"


def issuer(region: str, pool_id: str) -> str:
    """The ``iss`` claim of the pool's tokens (AWS's form, which moto issues too)."""
    return f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"


def jwks_url(endpoint_url: str, pool_id: str) -> str:
    """The pool's key set on a Cognito endpoint: AWS's is ``<issuer>/.well-known/jwks.json``,
    moto server serves it at the same path on its own endpoint."""
    return f"{endpoint_url.rstrip('/')}/{pool_id}/.well-known/jwks.json"


def _pool_settings(spec: resources.UserPoolSpec) -> dict[str, Any]:
    return {
        "DeletionProtection": "ACTIVE",
        "UserPoolTier": "ESSENTIALS" if ADVANCED_SECURITY_MODE == "OFF" else "PLUS",
        "UsernameAttributes": ["email"],
        "UsernameConfiguration": {"CaseSensitive": False},
        "AutoVerifiedAttributes": ["email"],
        "Schema": [
            {
                "Name": "email",
                "AttributeDataType": "String",
                "Required": True,
                "Mutable": True,
                "StringAttributeConstraints": {"MinLength": "3", "MaxLength": "254"},
            }
        ],
        "UserAttributeUpdateSettings": {"AttributesRequireVerificationBeforeUpdate": ["email"]},
        "Policies": {
            "PasswordPolicy": {
                "MinimumLength": spec.password_minimum_length,
                "RequireLowercase": True,
                "RequireUppercase": True,
                "RequireNumbers": True,
                "RequireSymbols": True,
                "TemporaryPasswordValidityDays": 3,
            }
        },
        "AccountRecoverySetting": {
            "RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]
        },
        "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": False},
        "UserPoolAddOns": {"AdvancedSecurityMode": ADVANCED_SECURITY_MODE},
    }


def provision_user_pool(prefix: str, session: boto3.session.Session) -> dict[str, str]:
    """Create the pool, the API's app client and the groups; the COGNITO_* variables."""
    spec = resources.USER_POOL
    cognito = session.client("cognito-idp")
    pool_id = cognito.create_user_pool(
        PoolName=resource_name(prefix, spec.suffix), **_pool_settings(spec)
    )["UserPool"]["Id"]
    cognito.set_user_pool_mfa_config(
        UserPoolId=pool_id,
        SoftwareTokenMfaConfiguration={"Enabled": True},
        MfaConfiguration="OPTIONAL",
    )
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName=resource_name(prefix, spec.app_client_suffix),
        GenerateSecret=False,
        ExplicitAuthFlows=list(spec.explicit_auth_flows),
        PreventUserExistenceErrors="ENABLED",
        EnableTokenRevocation=True,
        AuthSessionValidity=3,
        AccessTokenValidity=spec.access_token_validity_minutes,
        IdTokenValidity=spec.id_token_validity_minutes,
        RefreshTokenValidity=spec.refresh_token_validity_days,
        TokenValidityUnits={"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "days"},
        ReadAttributes=["email", "email_verified"],
        WriteAttributes=["email"],
    )["UserPoolClient"]["ClientId"]
    for name, description in spec.groups.items():
        cognito.create_group(UserPoolId=pool_id, GroupName=name, Description=description)
    region = session.region_name or cognito.meta.region_name
    return {
        spec.pool_id_env_var: pool_id,
        spec.app_client_id_env_var: client_id,
        spec.issuer_env_var: issuer(region, pool_id),
        spec.jwks_url_env_var: jwks_url(cognito.meta.endpoint_url, pool_id),
    }
