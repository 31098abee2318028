"""The local API wakes the stack's table-stream pollers after a request that may write."""

from __future__ import annotations

import threading

import pytest
from chalice import Chalice, local
from chalice.test import Client

from local_aws.chalice_local import wake_after_writes
from local_aws.wake_signal import WakeListener, WakeSender


def test_a_write_through_the_local_api_wakes_the_stack_and_a_read_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN chalice local serving an app with a read and a write, waking the stack after
    # each request that may write
    monkeypatch.setattr(local.LocalGateway, "handle_request", local.LocalGateway.handle_request)
    wakes: list[int] = []
    wake_after_writes(lambda: wakes.append(1))
    app = Chalice("t")

    @app.route("/things", methods=["GET", "POST", "DELETE"])
    def things() -> dict[str, str]:
        return {"ok": "yes"}

    with Client(app) as client:
        # WHEN it serves two reads, a write, a failed write (404) and a delete
        client.http.get("/things")
        client.http.get("/things")
        reads = len(wakes)
        client.http.post("/things", body=b"{}", headers={"Content-Type": "application/json"})
        client.http.post("/nowhere")
        client.http.delete("/things")
    # THEN no read woke the stack, and each other request did
    assert (reads, len(wakes)) == (0, 3)


def test_a_wake_signal_reaches_the_stacks_listener() -> None:
    # GIVEN the stack's listener on a loopback port, started
    listener = WakeListener()
    woken = threading.Event()
    listener.start(woken.set)
    try:
        # WHEN the API (another process) signals its port
        WakeSender(listener.port).send()
        # THEN the listener wakes the pollers
        assert woken.wait(10)
    finally:
        listener.stop()


def test_a_stopped_listener_wakes_nothing() -> None:
    # GIVEN a listener started, then stopped
    listener = WakeListener()
    woken = threading.Event()
    listener.start(woken.set)
    listener.stop()
    # WHEN a signal is sent to its port
    WakeSender(listener.port).send()
    # THEN nothing is woken, and the sender does not fail (a lost wake-up only delays)
    assert not woken.is_set()
