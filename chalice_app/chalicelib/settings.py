"""The one place that reads the environment.

Chalice imports ``app.py`` with the stage's ``environment_variables`` already
set (``deploy``, ``package``, ``local --stage``), and the local stack sets the
same variables, so event-source decorators can take names from here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache

import msgspec

from chalicelib import resources
from chalicelib.domain.exceptions import MissingSetting

__all__ = [
    "AWS_MAX_ATTEMPTS_ENV_VAR",
    "COGNITO_ENV_VARS",
    "CORS_ALLOWED_ORIGINS_ENV_VAR",
    "DEFAULT_AWS_MAX_ATTEMPTS",
    "DEFAULT_REGION",
    "LAMBDA_HANDLER_ENV_VAR",
    "LOCAL_STAGE",
    "CognitoSettings",
    "Settings",
    "get_settings",
    "load_settings",
]

DEFAULT_REGION = "eu-west-1"
DEFAULT_PREFIX = "evp"
CORS_ALLOWED_ORIGINS_ENV_VAR = "CORS_ALLOWED_ORIGINS"
LOCAL_STAGE = "local"
# Set by the Lambda runtime: the handler a function runs, "<module>.<attribute>"
# (Chalice: app.<handler name>, the API app.app).
LAMBDA_HANDLER_ENV_VAR = "_HANDLER"
# boto3's own variable for its attempts per call, the first one included; a client's
# Config would override it, so the clients are given what it says (adapters.aws).
AWS_MAX_ATTEMPTS_ENV_VAR = "AWS_MAX_ATTEMPTS"
DEFAULT_AWS_MAX_ATTEMPTS = 6
COGNITO_ENV_VARS = (
    resources.USER_POOL.pool_id_env_var,
    resources.USER_POOL.app_client_id_env_var,
    resources.USER_POOL.jwks_url_env_var,
    resources.USER_POOL.issuer_env_var,
)


class CognitoSettings(msgspec.Struct, frozen=True):
    """The user pool whose access tokens the API accepts."""

    user_pool_id: str
    app_client_id: str
    jwks_url: str
    issuer: str


class Settings(msgspec.Struct, frozen=True):
    """Resource names and tunables of one deployment."""

    region: str
    name_prefix: str
    tables: Mapping[str, str]
    queues: Mapping[str, str]
    user_events_topic_arn: str
    event_stream: str
    ledger_stream_arn: str
    stream_failure_queue: str
    # The delay queue of the erasures' second pass in the search index.
    search_redaction_queue: str
    archive_bucket: str
    early_adopter_count: int
    personal_data_kms_key: str
    idempotency_ttl_seconds: int
    # Event search: "opensearch" in AWS, "sqlite" in the local stack.
    search_backend: str = "opensearch"
    opensearch_endpoint: str = ""
    opensearch_index: str = "events"  # the alias; rebuilds swap the index behind it
    search_sqlite_path: str = ""
    stage: str = LOCAL_STAGE
    # None only in the local stage: then no token verifies and every protected route is 401.
    cognito: CognitoSettings | None = None
    # Failure drills only (the local stack sets it; AWS stages never do): a JSON
    # file {"<handler>": "<reason>"} whose entries make those handlers fail.
    fault_injection_file: str = ""
    # Browser origins allowed to call the API (CORS); none by default.
    cors_allowed_origins: tuple[str, ...] = ()
    # Sender of subscribers that need Need.SEND_EMAIL (a verified SES identity).
    email_sender: str = ""
    # The handler this process runs in Lambda (app.<name>); "" elsewhere (chalice
    # local, tests, scripts), where any handler of the app may be called.
    lambda_handler: str = ""
    # Attempts per AWS call, the first included (boto3's standard retry mode):
    # AWS_MAX_ATTEMPTS if set.
    aws_max_attempts: int = DEFAULT_AWS_MAX_ATTEMPTS

    def table(self, key: str) -> str:
        return self.tables[key]

    def queue(self, key: str) -> str:
        return self.queues[key]


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Build settings from an environment mapping (defaults follow resources.py)."""
    region = environ.get("AWS_DEFAULT_REGION") or environ.get("AWS_REGION") or DEFAULT_REGION
    prefix = environ.get("NAME_PREFIX", DEFAULT_PREFIX)

    def named(env_var: str, suffix: str) -> str:
        return environ.get(env_var) or resources.resource_name(prefix, suffix)

    topic_name = resources.resource_name(prefix, resources.USER_EVENTS_TOPIC)
    stage = _stage(environ)
    return Settings(
        region=region,
        name_prefix=prefix,
        tables={t.key: named(t.env_var, t.suffix) for t in resources.TABLES},
        queues={q.key: named(q.env_var, q.suffix) for q in resources.QUEUES},
        user_events_topic_arn=environ.get("USER_EVENTS_TOPIC_ARN")
        or f"arn:aws:sns:{region}:123456789012:{topic_name}",
        event_stream=named(resources.EVENT_STREAM.env_var, resources.EVENT_STREAM.suffix),
        ledger_stream_arn=environ.get("LEDGER_STREAM_ARN", ""),
        stream_failure_queue=named(
            resources.STREAM_FAILURE_QUEUE_ENV_VAR, resources.STREAM_FAILURE_QUEUE
        ),
        search_redaction_queue=named(
            resources.SEARCH_LATE_REDACTION.env_var, resources.SEARCH_LATE_REDACTION.suffix
        ),
        archive_bucket=named(
            resources.ARCHIVE_DELIVERY.bucket_env_var, resources.ARCHIVE_DELIVERY.bucket_suffix
        ),
        early_adopter_count=int(environ.get("EARLY_ADOPTER_COUNT", "100")),
        personal_data_kms_key=environ.get(resources.PERSONAL_DATA_KEY_ENV_VAR)
        or f"alias/{resources.resource_name(prefix, resources.PERSONAL_DATA_KEY_ALIAS)}",
        idempotency_ttl_seconds=int(environ.get("IDEMPOTENCY_TTL_SECONDS", str(24 * 3600))),
        search_backend=environ.get("SEARCH_BACKEND", "opensearch"),
        opensearch_endpoint=environ.get("OPENSEARCH_ENDPOINT", ""),
        opensearch_index=environ.get("OPENSEARCH_INDEX") or "events",
        search_sqlite_path=environ.get("SEARCH_SQLITE_PATH", ""),
        fault_injection_file=environ.get("FAULT_INJECTION_FILE", ""),
        email_sender=environ.get(resources.EMAIL_SENDER_ENV_VAR, ""),
        lambda_handler=environ.get(LAMBDA_HANDLER_ENV_VAR, ""),
        aws_max_attempts=_positive_int(
            AWS_MAX_ATTEMPTS_ENV_VAR, environ.get(AWS_MAX_ATTEMPTS_ENV_VAR)
        ),
        stage=stage,
        cors_allowed_origins=tuple(
            origin.strip()
            for origin in environ.get(CORS_ALLOWED_ORIGINS_ENV_VAR, "").split(",")
            if origin.strip()
        ),
        cognito=_cognito(environ, region, stage),
    )


def _positive_int(name: str, value: str | None) -> int:
    """``value`` of the variable ``name`` as a positive int; its default if unset."""
    if value is None or value == "":
        return DEFAULT_AWS_MAX_ATTEMPTS
    if not value.isdigit() or int(value) < 1:
        raise MissingSetting(f"{name} must be a positive integer, not {value!r}")
    return int(value)


def _stage(environ: Mapping[str, str]) -> str:
    """``STAGE`` if set; otherwise local, unless this runs inside AWS Lambda."""
    explicit = environ.get(resources.STAGE_ENV_VAR)
    if explicit:
        return explicit
    # The Lambda runtime always sets AWS_LAMBDA_FUNCTION_NAME; chalice local and tests never do.
    return "aws" if environ.get("AWS_LAMBDA_FUNCTION_NAME") else LOCAL_STAGE


def _cognito(environ: Mapping[str, str], region: str, stage: str) -> CognitoSettings | None:
    pool_id, client_id, jwks_url, issuer = (environ.get(name, "") for name in COGNITO_ENV_VARS)
    # The issuer and key set URL follow from the pool, as AWS defines them.
    issuer = issuer or (pool_id and f"https://cognito-idp.{region}.amazonaws.com/{pool_id}")
    jwks_url = jwks_url or (issuer and f"{issuer}/.well-known/jwks.json")
    values = dict(zip(COGNITO_ENV_VARS, (pool_id, client_id, jwks_url, issuer), strict=True))
    missing = [name for name, value in values.items() if not value]
    if not missing:
        return CognitoSettings(pool_id, client_id, jwks_url, issuer)
    if stage == LOCAL_STAGE:
        return None
    raise MissingSetting(
        f"stage {stage!r} needs {', '.join(missing)} (the Cognito user pool of the API)"
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process, read once from ``os.environ``."""
    return load_settings(os.environ)
