"""JSON over HTTP(S) to an OpenSearch domain, SigV4-signed with botocore.

botocore and urllib3 come with the Lambda runtime (boto3's dependencies), so
the adapter needs nothing else in the deployment package; opensearch-py would
bring requests, grpc and protobuf along (about 9 MB of the zip). Signing
follows opensearch-py's ``AWSV4SignerAuth``: frozen credentials per request
and a signed ``X-Amz-Content-SHA256``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

import orjson
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.httpsession import get_cert_path

__all__ = ["OpenSearchHttp", "Signer", "TransportError"]

# Gateway errors and dropped connections are retried, as opensearch-py does.
RETRY_ON_STATUS = (502, 503, 504)


class TransportError(Exception):
    """OpenSearch answered with an error status (``status``) or could not be reached (None)."""

    def __init__(self, status: int | None, kind: str, info: Any = None) -> None:
        super().__init__(f"{status or 'connection'} {kind}")
        self.status = status
        self.kind = kind
        self.info = info


class Signer:
    """SigV4 for one service and region; credentials are frozen at each request."""

    def __init__(self, credentials: Any, region: str, service: str = "es") -> None:
        self._credentials = credentials
        self._region = region
        self._service = service

    def headers(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str]
    ) -> dict[str, str]:
        """``headers`` plus the SigV4 ones for this request."""
        request = AWSRequest(method=method, url=url, data=body, headers=headers)
        frozen = getattr(self._credentials, "get_frozen_credentials", None)
        auth = SigV4Auth(
            frozen() if callable(frozen) else self._credentials, self._service, self._region
        )
        request.headers["X-Amz-Content-SHA256"] = auth.payload(request)
        auth.add_auth(request)
        return dict(request.headers.items())


class OpenSearchHttp:
    """A domain's REST API: ``request`` sends JSON (or NDJSON) and returns the parsed reply."""

    def __init__(
        self,
        endpoint: str,
        *,
        signer: Signer | None = None,
        timeout_seconds: float = 10,
        max_retries: int = 2,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._signer = signer
        retries = urllib3.Retry(
            total=max_retries,
            status_forcelist=RETRY_ON_STATUS,
            allowed_methods=None,  # every method: the adapter's writes are idempotent
            raise_on_status=False,
            redirect=False,
        )
        self._pool = urllib3.PoolManager(
            timeout=urllib3.Timeout(total=timeout_seconds),
            retries=retries,
            cert_reqs="CERT_REQUIRED",
            ca_certs=get_cert_path(True),
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        lines: Iterable[Any] | None = None,
    ) -> Any:
        """Send ``body`` as JSON or ``lines`` as NDJSON; the reply's JSON (None when empty).

        Raises TransportError for a status >= 400 or when the domain cannot be reached.
        """
        url = self.endpoint + path + (f"?{urlencode(params)}" if params else "")
        headers: dict[str, str] = {}
        data: bytes | None = None
        if lines is not None:
            data = b"".join(orjson.dumps(line) + b"\n" for line in lines)
            headers["Content-Type"] = "application/x-ndjson"
        elif body is not None:
            data = orjson.dumps(body)
            headers["Content-Type"] = "application/json"
        if self._signer is not None:
            headers = self._signer.headers(method, url, data, headers)
        try:
            response = self._pool.request(method, url, body=data, headers=headers)
        except urllib3.exceptions.HTTPError as exc:
            raise TransportError(None, type(exc).__name__, str(exc)) from exc
        reply = _parse(response.data)
        if response.status >= 400:
            raise TransportError(response.status, _kind(reply), reply)
        return reply


def _parse(data: bytes) -> Any:
    if not data:
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return data.decode("utf-8", "replace")


def _kind(reply: Any) -> str:
    """The error type OpenSearch names (``error.type``, or ``error`` when it is a string)."""
    if isinstance(reply, Mapping):
        error = reply.get("error")
        if isinstance(error, Mapping):
            return str(error.get("type", ""))
        if error is not None:
            return str(error)
    return str(reply or "")
