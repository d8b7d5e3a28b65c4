"""Async slots whose failures reach the error display, and dialogs that do not block the loop.

A slot's coroutine runs as a task on the qasync loop. Every such task is kept until it ends
(so closing the app can cancel them), and an exception escaping it goes to the window's
ErrorReporter, never only to a log. Modal Qt calls (file dialogs) run through
qasync.asyncWrap, outside any task step, so their nested event loop cannot re-enter one.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol, TypeVar

import qasync
from PySide6.QtWidgets import QDialog

from lambda_gui.gui.error_report import ErrorReporter

T = TypeVar("T")
_RUNNING: set[asyncio.Task[Any]] = set()


class HasReporter(Protocol):
    """A widget whose async slots report to an ErrorReporter."""

    reporter: ErrorReporter


def reported_slot(
    title: str, *types: type
) -> Callable[[Callable[..., Coroutine[Any, Any, Any]]], Callable[..., asyncio.Task[Any]]]:
    """Decorate an async method as a Qt slot; an exception shows as `title` in the reporter."""

    def decorate(
        fn: Callable[..., Coroutine[Any, Any, Any]],
    ) -> Callable[..., asyncio.Task[Any]]:
        @functools.wraps(fn)
        async def guarded(self: HasReporter, *args: Any) -> Any:
            task = asyncio.current_task()
            if task is not None:
                _RUNNING.add(task)
            try:
                return await fn(self, *args)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.reporter.report_exception(title, exc)
                return None
            finally:
                if task is not None:
                    _RUNNING.discard(task)

        slot: Callable[..., asyncio.Task[Any]] = qasync.asyncSlot(*types)(guarded)
        return slot

    return decorate


async def cancel_slot_tasks() -> None:
    """Cancel every slot task still running and wait for them (at shutdown)."""
    tasks = [t for t in _RUNNING if not t.done() and t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def run_modal(call: Callable[[], T]) -> T:
    """Run a blocking Qt call (a static file dialog) from the Qt loop, not inside a task."""
    result: T = await qasync.asyncWrap(call)
    return result


async def exec_dialog(dialog: QDialog) -> int:
    """Show a dialog window-modally and wait, without a nested event loop; returns its result."""
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def finished(result: int) -> None:
        if not future.done():
            future.set_result(result)

    dialog.finished.connect(finished)
    dialog.open()
    try:
        return await future
    finally:
        dialog.finished.disconnect(finished)


def spawn(
    coro: Awaitable[Any], name: str, reporter: ErrorReporter, title: str
) -> asyncio.Task[Any]:
    """Start a tracked background task for the GUI (cancelled at shutdown); an exception
    escaping it is shown as `title`."""

    async def run() -> Any:
        try:
            return await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            reporter.report_exception(title, exc)
            return None

    task = asyncio.ensure_future(run())
    task.set_name(name)
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)
    return task
