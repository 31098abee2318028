"""The Lambda context object a handler is invoked with."""

from __future__ import annotations

import time
import uuid

__all__ = ["LambdaContext"]


class LambdaContext:
    """The subset of the Lambda context object handlers commonly use."""

    def __init__(self, function_name: str, region: str, account: str, timeout_s: float) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account}:function:{function_name}"
        self.memory_limit_in_mb = "512"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"local/{self.aws_request_id}"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the (notional) Lambda timeout."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))
