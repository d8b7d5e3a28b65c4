"""The thread pool that runs blocking paramiko calls off the event loop."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

# Streams and downloads each hold a thread for their whole life, so the pool is sized for a few
# jobs at once rather than shared with the loop's default executor.
_MAX_WORKERS = 32
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def ssh_executor() -> ThreadPoolExecutor:
    """The process-wide pool for SSH work (created on first use)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=_MAX_WORKERS, thread_name_prefix="ssh")
        return _executor


async def run_blocking(
    fn: Callable[P, T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """Run `fn(*args, **kwargs)` in the SSH pool and await its result."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(ssh_executor(), functools.partial(fn, *args, **kwargs))


async def run_blocking_cancellable(fn: Callable[[], T], on_cancel: Callable[[], None]) -> T:
    """Run `fn()` in the SSH pool; if the awaiting task is cancelled, call `on_cancel()`.

    A thread cannot be interrupted, so `on_cancel` must make `fn` return soon (close its
    channel, set its stop flag); the cancellation then propagates without waiting for it.
    """
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(ssh_executor(), fn)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        on_cancel()
        # The thread's late result or error is nobody's concern now; retrieve it so asyncio
        # does not log "exception was never retrieved".
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        raise
