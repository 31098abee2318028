"""Count the AWS API calls boto3 makes, per caller, with the units AWS bills for them.

A :class:`CallCounter` hooks boto3 clients (botocore's ``before-parameter-build``
and ``after-call`` events): every API call made through them is recorded once
(botocore's own retries stay one call) under the caller named by the innermost
``with counter.acting_as(name)``, as
``service:Operation`` with its billed units (:func:`billed_units`), e.g. a
``dynamodb:TransactWriteItems`` of three small items is 6 write request units.
"""

from __future__ import annotations

import base64
import math
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Call", "CallCounter", "billed_units", "item_size"]

KB = 1024
_DDB_WRITE_UNIT = 1 * KB
_DDB_READ_UNIT = 4 * KB
_KINESIS_PUT_UNIT = 25 * KB
_MESSAGE_CHUNK = 64 * KB  # SNS and SQS bill each 64 KB chunk of a request's payload
_CONTEXT_KEY = "call_counter_params"

Units = dict[str, float]


@dataclass(frozen=True)
class Call:
    """One API call: who made it, ``service:Operation``, and what AWS bills for it."""

    caller: str
    operation: str
    units: Units = field(default_factory=dict)
    # The call's parameters as sent (DynamoDB JSON for DynamoDB): which resource it touched.
    params: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # Its response (a KMS Decrypt names the key it used only there).
    response: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def _value_size(value: Any) -> int:
    """Size of one DynamoDB-JSON attribute value, by DynamoDB's item size rules."""
    if not isinstance(value, Mapping) or len(value) != 1:
        raise TypeError(f"not a DynamoDB JSON value: {type(value).__name__}")
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        digits = str(inner).lstrip("-").replace(".", "").lstrip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(inner) if isinstance(inner, bytes | bytearray) else len(base64.b64decode(inner))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: v}) for v in inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(_value_size(v) + 1 for v in inner)
    return len(str(inner).encode())


def item_size(item: Mapping[str, Any] | None) -> int:
    """Bytes of a DynamoDB-JSON item: attribute names plus values."""
    return sum(len(name.encode()) + _value_size(value) for name, value in (item or {}).items())


def _write_units(item: Mapping[str, Any] | None) -> int:
    return max(1, math.ceil(item_size(item) / _DDB_WRITE_UNIT))


def _read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / _DDB_READ_UNIT))
    return float(units) if consistent else units / 2


def _update_size(params: Mapping[str, Any]) -> Mapping[str, Any]:
    # The item after the update is unknown here; key plus new values is its lower bound.
    return {**params.get("Key", {}), **params.get("ExpressionAttributeValues", {})}


def _transact_item_units(entry: Mapping[str, Any]) -> int:
    ((kind, body),) = entry.items()
    if kind == "Put":
        return 2 * _write_units(body["Item"])
    if kind == "Update":
        return 2 * _write_units(_update_size(body))
    return 2 * _write_units(body.get("Key"))  # ConditionCheck and Delete


def _dynamodb_units(operation: str, params: Mapping[str, Any], parsed: Mapping[str, Any]) -> Units:
    consistent = bool(params.get("ConsistentRead"))
    if operation == "PutItem":
        return {"dynamodb_wru": _write_units(params.get("Item"))}
    if operation == "UpdateItem":
        return {"dynamodb_wru": _write_units(_update_size(params))}
    if operation == "DeleteItem":
        return {"dynamodb_wru": _write_units(params.get("Key"))}
    if operation == "GetItem":
        return {"dynamodb_rru": _read_units(item_size(parsed.get("Item")), consistent)}
    if operation in ("Query", "Scan"):
        size = sum(item_size(i) for i in parsed.get("Items", []))
        return {"dynamodb_rru": _read_units(size, consistent)}
    if operation == "TransactWriteItems":
        return {"dynamodb_wru": sum(_transact_item_units(e) for e in params["TransactItems"])}
    if operation == "TransactGetItems":
        sizes = [item_size(r.get("Item")) for r in parsed.get("Responses", [])]
        return {"dynamodb_rru": sum(2 * _read_units(s, True) for s in sizes) or 2.0}
    if operation == "BatchWriteItem":
        requests = [r for rs in params.get("RequestItems", {}).values() for r in rs]
        units = sum(
            _write_units(
                r["PutRequest"]["Item"] if "PutRequest" in r else r["DeleteRequest"]["Key"]
            )
            for r in requests
        )
        return {"dynamodb_wru": units}
    if operation == "BatchGetItem":
        items = [i for table in parsed.get("Responses", {}).values() for i in table]
        return {"dynamodb_rru": sum(_read_units(item_size(i), consistent) for i in items)}
    return {}


def _chunks(size: int) -> int:
    return max(1, math.ceil(size / _MESSAGE_CHUNK))


def _attributes_size(attributes: Mapping[str, Any] | None) -> int:
    return sum(
        len(name) + len(str(v.get("DataType", ""))) + len(str(v.get("StringValue", "")))
        for name, v in (attributes or {}).items()
    )


def _data_len(data: Any) -> int:
    return len(data) if isinstance(data, bytes | bytearray) else len(str(data).encode())


def billed_units(
    service: str, operation: str, params: Mapping[str, Any], parsed: Mapping[str, Any]
) -> Units:
    """The billed units of one call (price keys of bench_aws_calls.PRICES); {} if not billed.

    ``params`` are the call's parameters (DynamoDB JSON for DynamoDB),
    ``parsed`` its response. Sizes are computed the way each service's
    pricing page defines them.
    """
    if service == "dynamodb":
        return _dynamodb_units(operation, params, parsed)
    if service == "kinesis" and operation in ("PutRecord", "PutRecords"):
        records = params.get("Records") or [params]
        units = sum(
            math.ceil((_data_len(r["Data"]) + len(r["PartitionKey"])) / _KINESIS_PUT_UNIT)
            for r in records
        )
        return {"kinesis_put_payload_unit": units}
    if service == "sns" and operation in ("Publish", "PublishBatch"):
        entries = params.get("PublishBatchRequestEntries") or [params]
        size = sum(
            len(str(e["Message"]).encode()) + _attributes_size(e.get("MessageAttributes"))
            for e in entries
        )
        return {"sns_request": _chunks(size)}
    if service == "sqs":
        if operation == "ReceiveMessage":
            size = sum(
                len(str(m.get("Body", "")).encode()) + _attributes_size(m.get("MessageAttributes"))
                for m in parsed.get("Messages", [])
            )
            return {"sqs_request": _chunks(size)}
        entries = params.get("Entries") or [params]
        size = sum(len(str(e.get("MessageBody", "")).encode()) for e in entries)
        return {"sqs_request": _chunks(size)}
    if service == "kms":
        return {"kms_request": 1}
    if service == "sesv2" and operation == "SendEmail":
        destination = params.get("Destination", {})
        recipients = sum(len(destination.get(k, [])) for k in destination)
        return {"ses_email": max(1, recipients)}
    if service == "s3" and operation in ("PutObject", "CopyObject", "ListObjectsV2"):
        return {"s3_put_request": 1}
    if service == "s3" and operation == "GetObject":
        return {"s3_get_request": 1}
    return {}


class CallCounter:
    """Records every API call made through the emitters it is attached to."""

    def __init__(self) -> None:
        self._caller: ContextVar[str] = ContextVar("caller", default="unattributed")
        self._lock = threading.Lock()
        self._calls: list[Call] = []

    def attach(self, client: Any) -> None:
        """Hook a boto3 client (idempotent); also hooks the clients sharing its emitter."""
        service_id = client.meta.service_model.service_id.hyphenize()
        events = client.meta.events
        # Handlers of the service's own event names run before generic ones; boto3's
        # DynamoDB Table layer converts values there. Last before the call, the
        # parameters are DynamoDB JSON; first after it, so is the response.
        events.register_last(
            f"before-parameter-build.{service_id}",
            self._before,
            unique_id=f"call-counter-before-{service_id}",
        )
        events.register_first(
            f"after-call.{service_id}", self._after, unique_id=f"call-counter-after-{service_id}"
        )

    @contextmanager
    def acting_as(self, caller: str) -> Iterator[None]:
        """Calls made inside are recorded as ``caller``'s."""
        token = self._caller.set(caller)
        try:
            yield
        finally:
            self._caller.reset(token)

    def add(
        self,
        caller: str,
        operation: str,
        units: Units | None = None,
        params: Mapping[str, Any] | None = None,
        response: Mapping[str, Any] | None = None,
    ) -> None:
        """Record a billed event that is not a boto3 call (an invocation, a delivery)."""
        call = Call(caller, operation, dict(units or {}), dict(params or {}), dict(response or {}))
        with self._lock:
            self._calls.append(call)

    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def reset(self) -> list[Call]:
        """Forget the recorded calls; returns them."""
        with self._lock:
            calls, self._calls = self._calls, []
        return calls

    @staticmethod
    def tally(calls: list[Call]) -> Counter[str]:
        """Calls per ``service:Operation``."""
        return Counter(c.operation for c in calls)

    def _before(self, params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[_CONTEXT_KEY] = dict(params)

    def _after(
        self,
        parsed: Mapping[str, Any],
        model: Any,
        context: dict[str, Any],
        **_: Any,
    ) -> None:
        service = model.service_model.service_name
        params = context.get(_CONTEXT_KEY, {})
        units = billed_units(service, model.name, params, parsed)
        self.add(self._caller.get(), f"{service}:{model.name}", units, params, parsed)
