"""What IAM would authorise for each AWS call a function made, and what its policy grants.

Turns calls recorded by :class:`local_aws.call_counter.CallCounter` into IAM
requests (``service:Action`` on a resource ARN, with the condition keys a
policy may test), and evaluates them against an identity policy with moto's
IAM policy evaluator. Batch and transactional calls are authorised by IAM
per entry, as the action of the single call (``sqs:DeleteMessageBatch`` is
``sqs:DeleteMessage``; a ``TransactWriteItems`` needs ``PutItem`` /
``UpdateItem`` / ``DeleteItem`` / ``ConditionCheckItem`` on each entry's table).
A call this module cannot map raises, so a new kind of call is never waved through.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from moto.iam.access_control import IAMPolicy, PermissionResult

__all__ = [
    "NOT_AUTHORISED_BY_IAM",
    "Grant",
    "IamRequest",
    "UnmappedCall",
    "allows",
    "grants",
    "iam_requests",
]

# Operations AWS authorises by something else than the caller's IAM policy.
NOT_AUTHORISED_BY_IAM: dict[str, str] = {
    "cognito-idp:GetUser": "authorised by the user's access token, not by IAM",
}

_TRANSACT_WRITE = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
# Batch calls IAM authorises as their single-entry action.
_SINGLE_ACTION = {
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
    "sns:PublishBatch": "sns:Publish",
    # Listing a bucket's objects is authorised as s3:ListBucket on the bucket.
    "s3:ListObjectsV2": "s3:ListBucket",
}
# botocore's service name -> IAM's service prefix, where they differ.
_IAM_PREFIX = {"sesv2": "ses"}


class UnmappedCall(Exception):
    """A recorded call this module does not know how to authorise."""


@dataclass(frozen=True)
class IamRequest:
    """One authorisation IAM makes: ``action`` on ``resource``, with condition keys."""

    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Grant:
    """One action on one resource pattern of a policy statement."""

    sid: str
    action: str
    resource: str
    conditions: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Account:
    """Where the calls were made (ARNs are built from it)."""

    region: str
    account_id: str
    resolve_kms_key: Callable[[str], str]

    def arn(self, service: str, resource: str, region: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if region else ''}:{self.account_id}:{resource}"


def _table(account: Account, name: str, index: str | None = None) -> str:
    table = account.arn("dynamodb", f"table/{name}")
    return f"{table}/index/{index}" if index else table


def _dynamodb(account: Account, operation: str, params: Mapping[str, Any]) -> list[IamRequest]:
    if operation == "TransactWriteItems":
        out = []
        for entry in params["TransactItems"]:
            ((kind, body),) = entry.items()
            out.append(
                IamRequest(f"dynamodb:{_TRANSACT_WRITE[kind]}", _table(account, body["TableName"]))
            )
        return out
    if operation == "TransactGetItems":
        return [
            IamRequest("dynamodb:GetItem", _table(account, entry["Get"]["TableName"]))
            for entry in params["TransactItems"]
        ]
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [
            IamRequest(f"dynamodb:{operation}", _table(account, name))
            for name in params["RequestItems"]
        ]
    if "TableName" not in params:
        raise UnmappedCall(f"dynamodb:{operation} without TableName")
    return [
        IamRequest(
            f"dynamodb:{operation}",
            _table(account, params["TableName"], params.get("IndexName")),
        )
    ]


def _queue_arn(account: Account, params: Mapping[str, Any]) -> str:
    name = params.get("QueueName") or urlparse(params["QueueUrl"]).path.rstrip("/").split("/")[-1]
    owner = params.get("QueueOwnerAWSAccountId") or account.account_id
    return f"arn:aws:sqs:{account.region}:{owner}:{name}"


def _stream_arn(account: Account, params: Mapping[str, Any]) -> str:
    return str(params.get("StreamARN") or account.arn("kinesis", f"stream/{params['StreamName']}"))


def _resource_and_context(
    account: Account,
    service: str,
    operation: str,
    params: Mapping[str, Any],
    response: Mapping[str, Any],
) -> tuple[str, tuple[tuple[str, str], ...]]:
    if service == "sqs":
        return _queue_arn(account, params), ()
    if service == "kinesis":
        return _stream_arn(account, params), ()
    if service == "sns":
        return str(params["TopicArn"]), ()
    if service == "kms":
        # A Decrypt may name no key (the ciphertext does); its response names it.
        key = params.get("KeyId") or response.get("KeyId")
        if not key:
            raise UnmappedCall(f"kms:{operation} names no key")
        return account.resolve_kms_key(str(key)), ()
    if service == "sesv2" and operation == "SendEmail":
        sender = str(params["FromEmailAddress"])
        identity = account.arn("ses", f"identity/{sender}")
        return identity, (("ses:FromAddress", sender),)
    if service == "cognito-idp" and "UserPoolId" in params:
        return account.arn("cognito-idp", f"userpool/{params['UserPoolId']}"), ()
    if service == "s3":
        bucket = params["Bucket"]
        key = params.get("Key")
        return (f"arn:aws:s3:::{bucket}/{key}" if key else f"arn:aws:s3:::{bucket}"), ()
    raise UnmappedCall(f"{service}:{operation}: no resource mapping (add one to iam_audit)")


def iam_requests(
    operation: str,
    params: Mapping[str, Any],
    response: Mapping[str, Any],
    region: str,
    account_id: str,
    resolve_kms_key: Callable[[str], str],
) -> list[IamRequest]:
    """What IAM authorises for one call (``service:Operation`` as botocore names it).

    ``resolve_kms_key`` turns a KeyId (id, ARN or alias) into the key's ARN:
    IAM authorises the key, whatever name the call used.
    """
    if operation in NOT_AUTHORISED_BY_IAM:
        return []
    account = Account(region, account_id, resolve_kms_key)
    service, _, name = operation.partition(":")
    if service == "dynamodb":
        return _dynamodb(account, name, params)
    if operation == "s3:DeleteObjects":
        # A multi-object delete is authorised as s3:DeleteObject on each key.
        bucket = params["Bucket"]
        return [
            IamRequest("s3:DeleteObject", f"arn:aws:s3:::{bucket}/{entry['Key']}")
            for entry in params["Delete"]["Objects"]
        ]
    resource, context = _resource_and_context(account, service, name, params, response)
    action = _SINGLE_ACTION.get(operation, f"{_IAM_PREFIX.get(service, service)}:{name}")
    return [IamRequest(action, resource, context)]


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def grants(policy: Mapping[str, Any] | str) -> list[Grant]:
    """Every (action, resource) an identity policy's Allow statements grant."""
    document = json.loads(policy) if isinstance(policy, str) else policy
    out = []
    for statement in _as_list_of_statements(document["Statement"]):
        if statement.get("Effect") != "Allow" or "NotAction" in statement:
            raise ValueError(f"only Allow statements with Action are audited: {statement}")
        for action in _as_list(statement["Action"]):
            for resource in _as_list(statement["Resource"]):
                out.append(
                    Grant(
                        statement.get("Sid", ""), action, resource, statement.get("Condition", {})
                    )
                )
    return out


def _as_list_of_statements(value: Any) -> list[Mapping[str, Any]]:
    return [value] if isinstance(value, Mapping) else list(value)


def allows(policy: Mapping[str, Any] | str, request: IamRequest) -> bool:
    """Whether ``policy`` allows ``request`` (moto's evaluator: actions, resources, conditions)."""
    document = policy if isinstance(policy, str) else json.dumps(policy)
    result = IAMPolicy(document).is_action_permitted(
        request.action, request.resource, incoming_condition_values=dict(request.context)
    )
    return bool(result == PermissionResult.PERMITTED)


def covered(grant: Grant, requests: Iterable[IamRequest]) -> bool:
    """Whether some request needed ``grant`` (its action and resource pattern match)."""
    single = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": grant.action, "Resource": grant.resource}],
        }
    )
    return any(allows(single, IamRequest(r.action, r.resource)) for r in requests)
