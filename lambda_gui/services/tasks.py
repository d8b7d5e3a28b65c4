"""Named, tracked, cancellable background tasks whose failures reach the user
(docs/architecture.md#conventions, rule 4)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from lambda_gui.services.events import EventBus, TaskFailed

log = logging.getLogger(__name__)


class TaskGroup:
    """Keeps every background task by name; `close()` cancels and awaits them all."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self._tasks: dict[str, asyncio.Task[Any]] = {}

    def spawn(self, name: str, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Start a task; a task of the same name still running is an error (one per job)."""
        old = self._tasks.get(name)
        if old is not None and not old.done():
            coro.close()
            raise RuntimeError(f"task {name!r} is already running")
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks[name] = task
        task.add_done_callback(self._finished)
        return task

    def get(self, name: str) -> asyncio.Task[Any] | None:
        """The task of that name, if any."""
        return self._tasks.get(name)

    def running(self) -> list[str]:
        """Names of tasks not yet done."""
        return [n for n, t in self._tasks.items() if not t.done()]

    async def close(self) -> None:
        """Cancel every task and wait for them to finish."""
        tasks = [t for t in self._tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        if self._tasks.get(task.get_name()) is task:
            del self._tasks[task.get_name()]
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("task %s failed: %s", task.get_name(), exc)
            self._bus.publish(TaskFailed(task.get_name(), str(exc) or type(exc).__name__))
