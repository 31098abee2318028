"""The platform's AWS resources, declared once.

The local stack provisions exactly these, and the infra parity test checks
that infra/ declares the same names, keys, filter policies, DLQ settings and
retention. Names are ``<prefix>-<suffix>``; the prefix is a deployment input
(Terraform ``var.name_prefix``, local stack ``--prefix``).

The specs are frozen msgspec structs rather than dataclasses: every function
imports this module on each cold start, and making a dataclass compiles and
execs its generated methods (these 11 took 9-12 ms of CPU, as structs 0.3 ms).
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any

import msgspec

from projections.catalogue import (
    ACCOUNT_DEPOSITED,
    ACCOUNT_OPENED,
    ACCOUNT_WITHDRAWN,
    PURCHASE_MADE,
    USER_CONSENTS_CHANGED,
    USER_CREATED,
    USER_ERASED,
    USER_LOYALTY_JOINED,
    USER_LOYALTY_LEFT,
    USER_TYPE_PREFIX,
    USER_TYPES,
)

__all__ = [
    "ARCHIVE_BUCKET",
    "ARCHIVE_DELIVERY",
    "EMAIL_SENDER_ENV_VAR",
    "EVENT_STREAM",
    "KINESIS_RETRY",
    "PERSONAL_DATA_KEY_ALIAS",
    "PLATFORM_TABLES",
    "QUEUES",
    "READ_MODELS",
    "REPLAY",
    "SEARCH_DELIVERY",
    "SEARCH_LATE_REDACTION",
    "SQS_FUNCTION_RESPONSE_TYPES",
    "STAGE_ENV_VAR",
    "STREAM_FAILURE_QUEUE",
    "SUBSCRIBERS",
    "TABLES",
    "USER_EVENTS_TOPIC",
    "USER_POOL",
    "ArchiveSpec",
    "Need",
    "QueueSpec",
    "ReadModelSpec",
    "ReplaySpec",
    "SearchDeliverySpec",
    "SearchLateRedactionSpec",
    "StreamSpec",
    "Subscriber",
    "TableSpec",
    "UserPoolSpec",
    "read_model_spec",
    "resource_name",
    "subscriber",
]


def resource_name(prefix: str, suffix: str) -> str:
    """The deployed name of a resource."""
    return f"{prefix}-{suffix}"


class TableSpec(msgspec.Struct, frozen=True):
    """A DynamoDB table (on-demand, PITR on, KMS encrypted)."""

    key: str
    env_var: str
    suffix: str
    hash_key: str
    hash_key_type: str = "S"
    range_key: str | None = None
    range_key_type: str = "N"
    stream_view_type: str | None = None
    ttl_attribute: str | None = None


class QueueSpec(msgspec.Struct, frozen=True):
    """An SQS consumer queue, its DLQ, SNS filter policy and Lambda mapping."""

    key: str
    env_var: str
    suffix: str
    filter_policy: dict[str, Any]
    max_receive_count: int = 3
    batch_size: int = 10
    # No window: Lambda then invokes as soon as a receive returns messages (up to
    # batch_size of them), so a registration reaches its consumers without waiting
    # a second per queue; invocations are the cheapest line of a registration's cost.
    maximum_batching_window_in_seconds: int = 0
    maximum_concurrency: int = 2
    lambda_timeout_seconds: int = 30
    message_retention_seconds: int = 4 * 24 * 3600
    dlq_message_retention_seconds: int = 14 * 24 * 3600

    @property
    def visibility_timeout_seconds(self) -> int:
        # AWS requires the visibility timeout to cover the Lambda timeout; 6x is
        # the documented recommendation for SQS event sources.
        return 6 * self.lambda_timeout_seconds

    @property
    def dlq_suffix(self) -> str:
        return f"{self.suffix}-dlq"


class Need(StrEnum):
    """What a subscriber needs beyond draining its queue into its own table.

    The IAM module turns each need into least-privilege statements; the local
    stack and the app's settings provide the matching resources.
    """

    # Read sealed personal fields: the person's data key and its KMS unwrap.
    OPEN_PERSONAL_DATA = "open_personal_data"
    # Send email from the platform's sender identity (SES).
    SEND_EMAIL = "send_email"
    # Read a user's events from the ledger (to fill the versions a filter kept away).
    READ_LEDGER = "read_ledger"
    # The API serves this subscriber's table (read only).
    SERVED_BY_API = "served_by_api"
    # Delete people from the platform's user pool (cognito-idp:AdminDeleteUser).
    DELETE_IDENTITY = "delete_identity"


class Subscriber(msgspec.Struct, frozen=True):
    """A consumer of the user-events topic, declared once.

    Terraform (through scripts/gen_subscribers_tfvars.py), the local stack,
    the app's event sources and the Chalice hand-off all derive from this.
    ``consumer`` is ``"module:Class"`` of a class with a
    ``from_context(context)`` constructor (chalicelib.adapters.subscriber_context).
    """

    handler: str
    consumer: str
    queue: QueueSpec
    table: TableSpec
    needs: frozenset[Need] = frozenset()
    reserved_concurrency: int = 2

    @property
    def key(self) -> str:
        return self.queue.key


class ReadModelSpec(msgspec.Struct, frozen=True):
    """A read model kept from the event stream, declared once.

    ``fold`` is ``"module:function"`` of a function taking the app's Settings
    and returning the model's ``projections.read_model.ReadModelFold`` (its
    key, pure fold and item shape). Items live in the read-model table under
    ``<item_prefix>#<key>``. The live projector, the store, scripts/replay.py
    (``--projection``), ops trace and the bound test derive from this.
    ``max_item_bytes`` is the most one item may hold, whatever the number of
    events folded into it (tests/unit/test_read_model_bounds.py folds 100,000).
    With ``position_items`` an item keeps only the position of the aggregate
    its key names; every other aggregate folded into it (e.g. each purchase,
    an aggregate of its own) keeps its position in an item of its own,
    ``<item_prefix>-position#<aggregate id>``, written in the same
    transaction, so the item does not grow with the aggregates it folds.
    """

    name: str
    item_prefix: str
    event_types: frozenset[str]
    fold: str
    max_item_bytes: int
    position_items: bool = False


class StreamSpec(msgspec.Struct, frozen=True):
    """The Kinesis data stream carrying every ledger event."""

    env_var: str
    suffix: str
    retention_hours: int
    shard_count: int


class KinesisRetrySpec(msgspec.Struct, frozen=True):
    """How a stream consumer treats a failing batch (Lambda mapping settings)."""

    maximum_retry_attempts: int = 3
    bisect_batch_on_function_error: bool = True


class ArchiveSpec(msgspec.Struct, frozen=True):
    """Firehose delivery of the stream to the S3 archive."""

    bucket_env_var: str
    bucket_suffix: str
    delivery_suffix: str
    # ``{count}`` is the bucket count (Terraform's var.archive_bucket_count); the
    # bucket itself comes from Firehose's metadata extraction (dynamic partitioning).
    prefix: str
    error_prefix: str
    buffering_interval_seconds: int
    buffering_size_mb: int
    # The default of var.archive_bucket_count, which the local stack uses too.
    bucket_count: int

    def prefix_for(self, count: int) -> str:
        """The object key prefix (Firehose expressions left in) for ``count`` buckets."""
        return self.prefix.replace("{count}", str(count))


class UserPoolSpec(msgspec.Struct, frozen=True):
    """The Cognito user pool whose access tokens the API accepts.

    People sign in with their email, which is the pool's username attribute:
    Cognito then gives each person an immutable ``sub`` (the platform's user
    id) and matches emails case-insensitively. Groups are the operator roles;
    a person in no group is a customer.
    """

    suffix: str
    app_client_suffix: str
    groups: dict[str, str]  # name -> description
    password_minimum_length: int
    access_token_validity_minutes: int
    id_token_validity_minutes: int
    refresh_token_validity_days: int
    # USER_SRP_AUTH for people's apps (the password never leaves the device),
    # ADMIN_USER_PASSWORD_AUTH for operators' tools with IAM credentials.
    explicit_auth_flows: tuple[str, ...]
    pool_id_env_var: str = "COGNITO_USER_POOL_ID"
    app_client_id_env_var: str = "COGNITO_APP_CLIENT_ID"
    jwks_url_env_var: str = "COGNITO_JWKS_URL"
    issuer_env_var: str = "COGNITO_ISSUER"


class SearchDeliverySpec(msgspec.Struct, frozen=True):
    """Firehose delivery of the stream to the OpenSearch index.

    A transformation Lambda (``search_transform``) opens personal fields on the
    way in, so documents OpenSearch rejects hold decrypted personal data: they
    are backed up to the archive bucket under ``failed_documents_prefix`` only
    (never every document) and expire after ``failed_documents_expiry_days``.
    """

    delivery_suffix: str
    failed_documents_prefix: str
    failed_documents_expiry_days: int
    buffering_interval_seconds: int
    buffering_size_mb: int
    # How long Firehose keeps retrying a delivery OpenSearch refused (0..7200 s).
    retry_duration_seconds: int
    # The transformation Lambda's timeout (Firehose allows a processor up to 300 s).
    transform_timeout_seconds: int

    @property
    def delivery_window_seconds(self) -> int:
        """Longest time from the transform opening a document to its delivery.

        The transform returns within its timeout; the opened document then waits
        in the destination buffer and, if OpenSearch refuses it, is retried for
        the retry duration. Terraform sums the same settings.
        """
        return (
            self.transform_timeout_seconds
            + self.buffering_interval_seconds
            + self.retry_duration_seconds
        )


class ReplaySpec(msgspec.Struct, frozen=True):
    """A replay in AWS: a Step Functions Distributed Map over the archive's buckets.

    The state machine (infra/modules/replay) runs ``handler`` for each step:
    ``open`` starts a new read-model generation, ``fold`` folds one archive
    bucket (a Map child; the same engine as ``replay.py --workers``) and stores
    its part under ``parts_prefix`` in the archive bucket, ``finish`` merges the
    parts into the new generation and switches readers, ``abandon`` closes a
    failed run. ``timeout_seconds`` is Lambda's limit (15 min): a bucket must
    fold within it, so the bucket count is raised as the archive grows.
    """

    handler: str
    state_machine_suffix: str
    parts_prefix: str
    timeout_seconds: int = 900


class SearchLateRedactionSpec(msgspec.Struct, frozen=True):
    """The second redaction pass of an erasure, after the search delivery window.

    ``search_erasure`` redacts the person's indexed documents at once and puts
    the erasure on this SQS delay queue; ``handler`` redacts again when it comes
    out, after every document the transform opened before the erasure has been
    delivered. The queue's delay is the delivery window plus ``margin_seconds``
    (SQS delays at most 900 s).
    """

    handler: str
    env_var: str
    suffix: str
    margin_seconds: int
    max_delay_seconds: int = 900
    max_receive_count: int = 5
    batch_size: int = 10
    # Erasures are rare: two concurrent redactions at most (SQS's minimum).
    maximum_concurrency: int = 2
    lambda_timeout_seconds: int = 60
    message_retention_seconds: int = 4 * 24 * 3600
    dlq_message_retention_seconds: int = 14 * 24 * 3600

    @property
    def dlq_suffix(self) -> str:
        return f"{self.suffix}-dlq"

    @property
    def visibility_timeout_seconds(self) -> int:
        # As for the subscribers' queues: 6x the Lambda timeout (AWS's recommendation).
        return 6 * self.lambda_timeout_seconds

    def delay_seconds(
        self, delivery_window_seconds: float, margin_seconds: int | None = None
    ) -> int:
        """The queue's delay for a delivery window; ValueError past what SQS allows.

        ``margin_seconds`` (default ``self.margin_seconds``, for the delivery
        requests themselves in AWS) is smaller locally, where delivery is a call.
        """
        margin = self.margin_seconds if margin_seconds is None else margin_seconds
        delay = math.ceil(delivery_window_seconds) + margin
        if delay > self.max_delay_seconds:
            raise ValueError(
                f"a search delivery window of {delivery_window_seconds}s needs a delay of "
                f"{delay}s; SQS delays at most {self.max_delay_seconds}s"
            )
        return delay


PLATFORM_TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        key="ledger",
        env_var="LEDGER_TABLE",
        suffix="ledger",
        hash_key="aggregate_id",
        range_key="version",
        stream_view_type="NEW_IMAGE",
    ),
    TableSpec(key="users", env_var="USERS_TABLE", suffix="users", hash_key="pk"),
    TableSpec(
        key="read_models",
        env_var="READ_MODELS_TABLE",
        suffix="read-models",
        hash_key="pk",
    ),
    TableSpec(
        key="personal_data_keys",
        env_var="PERSONAL_DATA_KEYS_TABLE",
        suffix="personal-data-keys",
        hash_key="user_id",
    ),
    TableSpec(
        key="idempotency",
        env_var="IDEMPOTENCY_TABLE",
        suffix="idempotency",
        hash_key="pk",
        ttl_attribute="expires_at",
    ),
)

USER_EVENTS_TOPIC = "user-events"

# The address subscribers that need SEND_EMAIL send from (a verified SES identity).
EMAIL_SENDER_ENV_VAR = "EMAIL_SENDER"

# Registrations and erasures reach a consumer when the user's flag selects
# it; the lifecycle events that change that flag always do (so a consumer
# also hears when someone leaves).
SUBSCRIBERS: tuple[Subscriber, ...] = (
    Subscriber(
        handler="loyalty_enrolment",
        consumer="chalicelib.service.consumers:LoyaltyEnrolment",
        queue=QueueSpec(
            key="loyalty",
            env_var="LOYALTY_QUEUE",
            suffix="loyalty-enrolment",
            filter_policy={
                "$or": [
                    {
                        "type": [USER_CREATED, USER_ERASED],
                        "loyalty": ["true"],
                    },
                    {"type": [USER_LOYALTY_JOINED, USER_LOYALTY_LEFT]},
                ]
            },
        ),
        table=TableSpec(
            key="loyalty_enrolments",
            env_var="LOYALTY_ENROLMENTS_TABLE",
            suffix="loyalty-enrolments",
            hash_key="user_id",
        ),
        needs=frozenset({Need.READ_LEDGER, Need.SERVED_BY_API}),
    ),
    Subscriber(
        handler="gdpr_consent_record",
        consumer="chalicelib.service.consumers:GdprConsentRecord",
        queue=QueueSpec(
            key="gdpr",
            env_var="GDPR_QUEUE",
            suffix="gdpr-consents",
            filter_policy={"type": [{"prefix": USER_TYPE_PREFIX}]},
        ),
        table=TableSpec(
            key="gdpr_consents",
            env_var="GDPR_CONSENTS_TABLE",
            suffix="gdpr-consents",
            hash_key="user_id",
        ),
        needs=frozenset({Need.READ_LEDGER, Need.SERVED_BY_API}),
    ),
    Subscriber(
        handler="crm_contact_sync",
        consumer="chalicelib.service.consumers:CrmContactSync",
        queue=QueueSpec(
            key="crm",
            env_var="CRM_QUEUE",
            suffix="crm-contacts",
            filter_policy={
                "$or": [
                    {
                        "type": [USER_CREATED, USER_ERASED],
                        "marketing": ["true"],
                    },
                    {"type": [USER_CONSENTS_CHANGED]},
                ]
            },
        ),
        table=TableSpec(
            key="crm_contacts",
            env_var="CRM_CONTACTS_TABLE",
            suffix="crm-contacts",
            hash_key="user_id",
        ),
        # Stored sealed as it arrives; opened when marketing reads it through the API.
        needs=frozenset({Need.OPEN_PERSONAL_DATA, Need.READ_LEDGER, Need.SERVED_BY_API}),
    ),
    Subscriber(
        handler="welcome_email",
        consumer="chalicelib.service.welcome_email:WelcomeEmail",
        queue=QueueSpec(
            key="welcome",
            env_var="WELCOME_QUEUE",
            suffix="welcome-email",
            filter_policy={"type": [USER_CREATED]},
        ),
        # One item per (user, version) claimed before sending: never twice.
        table=TableSpec(
            key="welcome_emails",
            env_var="WELCOME_EMAILS_TABLE",
            suffix="welcome-emails",
            hash_key="user_id",
            range_key="version",
        ),
        needs=frozenset({Need.OPEN_PERSONAL_DATA, Need.SEND_EMAIL}),
    ),
    # Erasure ends the identity: the erased person's Cognito user is deleted.
    Subscriber(
        handler="identity_deletion",
        consumer="chalicelib.service.identity_deletion:IdentityDeletion",
        queue=QueueSpec(
            key="identity",
            env_var="IDENTITY_DELETION_QUEUE",
            suffix="identity-deletion",
            filter_policy={"type": [USER_ERASED]},
        ),
        # One item per erased person: the deletion, recorded after it happened.
        table=TableSpec(
            key="identity_deletions",
            env_var="IDENTITY_DELETIONS_TABLE",
            suffix="identity-deletions",
            hash_key="user_id",
        ),
        needs=frozenset({Need.DELETE_IDENTITY}),
    ),
)

QUEUES: tuple[QueueSpec, ...] = tuple(s.queue for s in SUBSCRIBERS)

ACCOUNT_EVENT_TYPES = frozenset({ACCOUNT_OPENED, ACCOUNT_DEPOSITED, ACCOUNT_WITHDRAWN})

# The read models the projector keeps in the read-model table.
READ_MODELS: tuple[ReadModelSpec, ...] = (
    ReadModelSpec(
        name="accounts",
        item_prefix="account",
        event_types=ACCOUNT_EVENT_TYPES,
        fold="projections.accounts:read_model",
        max_item_bytes=1024,
    ),
    ReadModelSpec(
        name="loyalty",
        item_prefix="loyalty",
        # Every user event moves the horizon; purchases earn points.
        event_types=USER_TYPES | {PURCHASE_MADE},
        fold="chalicelib.adapters.loyalty_read_model:read_model",
        # Pending purchases are settled at the ledger's watermark (issue 25).
        max_item_bytes=8_192,
        position_items=True,
    ),
    ReadModelSpec(
        name="statements",
        item_prefix="statement",
        event_types=ACCOUNT_EVENT_TYPES,
        fold="projections.statements:read_model",
        # About 60 bytes a month with events, whatever their number: 40 years of an account.
        max_item_bytes=32_768,
    ),
)


def read_model_spec(name: str) -> ReadModelSpec:
    """The read model declared as ``name``."""
    for declared in READ_MODELS:
        if declared.name == name:
            return declared
    raise KeyError(name)


TABLES: tuple[TableSpec, ...] = PLATFORM_TABLES + tuple(s.table for s in SUBSCRIBERS)


def subscriber(key: str) -> Subscriber:
    """The subscriber whose queue key is ``key``."""
    for declared in SUBSCRIBERS:
        if declared.key == key:
            return declared
    raise KeyError(key)


# The KMS key that encrypts every person's data key: alias/<prefix>-personal-data.
PERSONAL_DATA_KEY_ALIAS = "personal-data"
PERSONAL_DATA_KEY_ENV_VAR = "PERSONAL_DATA_KMS_KEY"
# The Chalice stage the app runs as; settings outside the local stage are all required.
STAGE_ENV_VAR = "STAGE"

# Records a stream consumer gave up on (after KINESIS_RETRY) land here.
STREAM_FAILURE_QUEUE = "stream-failures"
STREAM_FAILURE_QUEUE_ENV_VAR = "STREAM_FAILURE_QUEUE"

EVENT_STREAM = StreamSpec(
    env_var="EVENT_STREAM", suffix="events", retention_hours=8760, shard_count=2
)

KINESIS_RETRY = KinesisRetrySpec()

# Every SQS event source mapping of the app (the subscribers' and the late
# redaction's): its handler answers {"batchItemFailures": [...]}
# (chalicelib.entrypoints.sqs_batch), and Lambda reads that answer only with this setting.
# Chalice cannot declare it: scripts/post_deploy.py sets it on the deployed
# mappings, and the local stack's event sources read it from here.
SQS_FUNCTION_RESPONSE_TYPES: tuple[str, ...] = ("ReportBatchItemFailures",)

ARCHIVE_BUCKET = "archive"
ARCHIVE_DELIVERY = ArchiveSpec(
    bucket_env_var="ARCHIVE_BUCKET",
    bucket_suffix="archive",
    delivery_suffix="archive",
    # Bucketed by a hash of the subject (projections.archive_buckets), so one bucket
    # holds whole aggregates; objects of the earlier layout (events/year=...) stay readable.
    prefix="events/buckets={count}/bucket=!{partitionKeyFromQuery:bucket}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/",
    error_prefix="errors/!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/",
    buffering_interval_seconds=60,
    # Firehose's minimum buffer with dynamic partitioning (it buffers per bucket).
    buffering_size_mb=64,
    bucket_count=64,
)

# Kinesis -> search_transform (decrypts) -> OpenSearch. Separate from the
# archive delivery so that the archive only ever receives the sealed events.
SEARCH_DELIVERY = SearchDeliverySpec(
    delivery_suffix="search",
    failed_documents_prefix="search-failed/",
    failed_documents_expiry_days=7,
    buffering_interval_seconds=60,
    buffering_size_mb=5,
    retry_duration_seconds=300,
    transform_timeout_seconds=60,
)

# Closes the erasure window of the search index: a document the transform
# opened before an erasure but delivered after it is redacted by this pass.
SEARCH_LATE_REDACTION = SearchLateRedactionSpec(
    handler="search_late_redaction",
    env_var="SEARCH_REDACTION_QUEUE",
    suffix="search-redaction",
    margin_seconds=60,
)

# Replay beyond one machine: the worker Lambda the replay state machine invokes.
REPLAY = ReplaySpec(handler="replay_worker", state_machine_suffix="replay", parts_prefix="replay/")

USER_POOL = UserPoolSpec(
    suffix="users",
    app_client_suffix="api",
    groups={
        "admin": "Operators: every route, for every person",
        "marketing": "Marketing: may read CRM contacts",
    },
    password_minimum_length=12,
    access_token_validity_minutes=60,
    id_token_validity_minutes=60,
    refresh_token_validity_days=30,
    explicit_auth_flows=(
        "ALLOW_USER_SRP_AUTH",
        "ALLOW_ADMIN_USER_PASSWORD_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
    ),
)
