"""The failure drill and the console: one local stack of their own, shared by both.

Other tests' poison records stay out of its failure queues, so "empty after the
drill" means empty; each test here leaves them empty (it asserts so) and switches
its fault off, so the next one starts from the same state. One stack for the two
saves a stack's start; it stops when the last test of this folder is done.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local_aws.stack_process import LocalStackProcess, running_local_stack


@pytest.fixture(scope="package")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    """GIVEN a local stack of this folder's own."""
    with running_local_stack(tmp_path_factory.mktemp("own-stack") / "stack.log") as stack:
        yield stack
