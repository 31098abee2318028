"""An idle poller of the local stack keeps its pace just after activity, then backs off."""

from __future__ import annotations

from local_aws.event_sources import IdleBackoff


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_busy_poller_keeps_its_base_pace() -> None:
    # GIVEN a poller active just now, busy for 4 s after activity
    clock = _Clock()
    backoff = IdleBackoff(0.5, 2.0, busy_seconds=4.0, clock=clock)
    # WHEN it polls empty again and again within those 4 s
    pauses = []
    for _ in range(7):
        pauses.append(backoff.next_pause())
        clock.now += 0.5
    # THEN every pause is the base one: a retry or a delayed message is taken as promptly
    assert pauses == [0.5] * 7


def test_an_idle_poller_doubles_its_pause_up_to_the_ceiling() -> None:
    # GIVEN a poller whose busy spell is over
    clock = _Clock()
    backoff = IdleBackoff(0.25, 2.0, busy_seconds=4.0, clock=clock)
    clock.now += 4.0
    # WHEN it keeps polling empty
    pauses = [backoff.next_pause() for _ in range(6)]
    # THEN it polls ever more seldom, but at least every ceiling
    assert pauses == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]


def test_activity_brings_a_backed_off_poller_back_to_its_base_pace() -> None:
    # GIVEN a poller backed off to its ceiling
    clock = _Clock()
    backoff = IdleBackoff(0.5, 2.0, busy_seconds=1.0, clock=clock)
    clock.now += 10.0
    for _ in range(3):
        backoff.next_pause()
    # WHEN it is woken (or finds records), then polls empty
    backoff.active()
    clock.now += 0.5
    first = backoff.next_pause()
    clock.now += 1.0
    after_busy = [backoff.next_pause() for _ in range(3)]
    # THEN it pauses the base time while busy, and backs off afresh from there
    assert (first, after_busy) == (0.5, [0.5, 1.0, 2.0])


def test_without_a_ceiling_the_pause_never_grows() -> None:
    # GIVEN a back-off given no ceiling, idle for long
    clock = _Clock()
    backoff = IdleBackoff(0.2, clock=clock)
    clock.now += 3600
    # WHEN it polls empty many times
    # THEN every pause is the base one (the runner's default: no back-off)
    assert {backoff.next_pause() for _ in range(10)} == {0.2}
