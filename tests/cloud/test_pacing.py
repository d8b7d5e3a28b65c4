"""The pacer, on a fake clock: spacing, launch spacing, Retry-After, cancellation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from lambda_gui.cloud.pacing import MAX_RETRY_AFTER, Pacer, default_pacer, parse_retry_after


class SteppingClock:
    """A fake clock for sequential callers: a sleep advances time by its length."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def make(clock: SteppingClock, **kw: float) -> Pacer:
    return Pacer(clock=clock, sleep=clock.sleep, **kw)


async def test_sequential_requests_are_spaced_by_min_interval() -> None:
    clock = SteppingClock()
    pacer = make(clock)
    sent = []
    for _ in range(5):
        await pacer.wait_turn()
        sent.append(clock.now)
    assert sent == [1000.0, 1001.0, 1002.0, 1003.0, 1004.0]


async def test_no_wait_when_requests_are_already_slow() -> None:
    clock = SteppingClock()
    pacer = make(clock)
    await pacer.wait_turn()
    clock.now += 5
    await pacer.wait_turn()
    assert clock.now == 1005.0


async def test_concurrent_requests_get_distinct_slots() -> None:
    """Ten requests at once are scheduled one interval apart, and each sends at its slot."""
    now = [1000.0]
    sent: list[float] = []

    async def sleep(seconds: float) -> None:
        # Real scheduling order, simulated time: wake in slot order, then move the clock.
        await asyncio.sleep(seconds / 1000)
        now[0] = max(now[0], 1000.0 + seconds)

    pacer = Pacer(clock=lambda: now[0], sleep=sleep)

    async def one() -> None:
        await pacer.wait_turn()
        sent.append(now[0])

    tasks = [asyncio.ensure_future(one()) for _ in range(10)]
    await asyncio.gather(*tasks)
    assert sorted(sent) == [1000.0 + i for i in range(10)]


async def test_launch_keeps_its_own_longer_interval() -> None:
    clock = SteppingClock()
    pacer = make(clock, min_interval=1.0, launch_interval=12.0)
    await pacer.wait_turn(launch=True)
    assert clock.now == 1000.0
    await pacer.wait_turn()  # an ordinary request is not held behind the launch interval
    assert clock.now == 1001.0
    await pacer.wait_turn(launch=True)
    assert clock.now == 1012.0


async def test_ordinary_requests_fill_the_gap_before_a_waiting_launch() -> None:
    now = [1000.0]
    pacer = Pacer(launch_interval=12.0, clock=lambda: now[0], sleep=lambda s: asyncio.sleep(0))
    await pacer.wait_turn(launch=True)  # slot 1000
    second_launch = asyncio.ensure_future(pacer.wait_turn(launch=True))
    await asyncio.sleep(0)
    assert 1012.0 in pacer._slots
    poll = asyncio.ensure_future(pacer.wait_turn())
    await asyncio.sleep(0)
    # The poll got the next free second, not a slot after the launch.
    assert sorted(pacer._slots) == [1000.0, 1001.0, 1012.0]
    now[0] = 1013.0
    await asyncio.gather(second_launch, poll)


async def test_retry_after_pushes_every_later_request() -> None:
    clock = SteppingClock()
    pacer = make(clock)
    await pacer.wait_turn()
    pacer.defer(7.5)
    await pacer.wait_turn()
    assert clock.now == 1007.5
    await pacer.wait_turn()
    assert clock.now == 1008.5


async def test_retry_after_that_arrives_while_waiting_moves_the_waiter() -> None:
    now = [1000.0]
    release = asyncio.Event()

    async def sleep(seconds: float) -> None:
        await release.wait()
        now[0] += seconds

    pacer = Pacer(clock=lambda: now[0], sleep=sleep)
    await pacer.wait_turn()  # slot 1000, no sleep
    waiter = asyncio.ensure_future(pacer.wait_turn())  # slot 1001
    await asyncio.sleep(0)
    pacer.defer(10)  # a 429 came back for another request meanwhile
    release.set()
    await waiter
    assert now[0] >= 1010.0


async def test_cancelled_waiter_gives_its_slot_back() -> None:
    clock = SteppingClock()
    never = asyncio.Event()

    async def sleep(seconds: float) -> None:
        await never.wait()

    pacer = Pacer(clock=clock, sleep=sleep)
    await pacer.wait_turn()
    waiter = asyncio.ensure_future(pacer.wait_turn(launch=True))
    await asyncio.sleep(0)
    assert pacer._slots == [1000.0, 1001.0]
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert pacer._slots == [1000.0]
    # The launch interval it claimed is released too.
    clock.now = 1001.0
    await asyncio.wait_for(pacer.wait_turn(launch=True), timeout=1)  # no wait: sends at once


async def test_defer_is_capped_and_never_negative() -> None:
    clock = SteppingClock()
    pacer = make(clock)
    pacer.defer(-5)
    await pacer.wait_turn()
    assert clock.now == 1000.0
    pacer.defer(1e9)
    await pacer.wait_turn()
    assert clock.now == 1000.0 + MAX_RETRY_AFTER


def test_parse_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(" 2.5 ") == 2.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("nan") is None
    now = datetime(2026, 11, 3, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(later, now=now) == pytest.approx(30.0)
    earlier = format_datetime(now - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(earlier, now=now) == 0.0


def test_default_pacer_is_shared_and_keeps_lambdas_limits() -> None:
    assert default_pacer() is default_pacer()
    assert default_pacer().min_interval == 1.0
    assert 12.0 <= default_pacer().launch_interval <= 13.0


def test_negative_interval_is_refused() -> None:
    with pytest.raises(ValueError):
        Pacer(min_interval=-1)
