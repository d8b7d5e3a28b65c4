"""Quitting while jobs run: each job's cost per hour and the total, then keep them running
(the app picks them up on its next start) or stop them all and terminate, with progress."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QProgressDialog, QWidget

from lambda_gui.gui.dialogs.prompts import choice_box, choose
from lambda_gui.gui.error_report import ErrorReporter
from lambda_gui.services.ports import QuitControl
from lambda_gui.services.store import JobRecord

PROGRESS_POLL_S = 0.3


def job_cost_line(job: JobRecord) -> str:
    """One running job and what it costs per hour."""
    name = f"{job.config.project_name} ({job.id}) on {job.instance_type}"
    if job.billing.may_bill:
        return f"• {name}: ${job.price_cents_per_hour / 100:,.2f}/h"
    return f"• {name}: not launched yet, nothing billed"


def quit_text(running: Sequence[JobRecord]) -> str:
    """The question: every running job with its cost per hour, the total, and the choices."""
    total = sum(j.price_cents_per_hour for j in running if j.billing.may_bill) / 100
    return "\n".join(
        [
            f"{len(running)} job(s) are still running on Lambda instances, which bill until "
            "they are terminated:",
            *(job_cost_line(j) for j in running),
            f"Total: ${total:,.2f}/h.",
            "",
            "Keep running: they keep training without this app, and the app picks them up "
            "(log, curves, download, terminate) when it starts again.",
            "Stop and terminate: training stops (the log and last checkpoint are saved where "
            "possible) and every instance is terminated before the app quits.",
        ]
    )


class QuitPrompt:
    """The question box, and stopping every job with a progress dialog."""

    def __init__(
        self,
        parent: QWidget,
        connector: QuitControl,
        reporter: ErrorReporter,
        running: Sequence[JobRecord],
    ) -> None:
        self.parent = parent
        self.connector = connector
        self.reporter = reporter
        self.running = list(running)
        role = QMessageBox.ButtonRole
        self.box = choice_box(
            parent,
            "Jobs are still running",
            quit_text(self.running),
            [
                ("keep", "Keep running and quit", role.AcceptRole),
                ("stop", "Stop and terminate", role.DestructiveRole),
                ("stay", "Don't quit", role.RejectRole),
            ],
        )
        self.progress: QProgressDialog | None = None
        self.progress_seen: list[int] = []

    async def ask(self) -> str | None:
        """Show the question; "keep", "stop", "stay" (or None when closed)."""
        return await choose(self.box)

    async def stop_all(self) -> bool:
        """Stop every unfinished job and terminate its instance, showing how many are done;
        False (and a report) when Lambda did not confirm every instance gone."""
        count = len(self.running)
        progress = QProgressDialog(
            f"Stopping {count} job(s) and terminating their instances…", "", 0, count, self.parent
        )
        progress.setWindowTitle("Stopping jobs")
        progress.setCancelButton(None)
        progress.setWindowModality(Qt.WindowModality.WindowModal)
        progress.setMinimumDuration(0)
        progress.setAutoClose(False)
        progress.setValue(0)
        progress.show()
        self.progress = progress
        poller = asyncio.ensure_future(self._follow(progress, {j.id for j in self.running}))
        try:
            results = await self.connector.stop_all_jobs()
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
            progress.close()
            progress.deleteLater()
            self.progress = None
        unconfirmed = [job_id for job_id, ok in results.items() if not ok]
        if unconfirmed:
            self.reporter.report(
                "Not every instance is confirmed terminated",
                "Lambda did not confirm that the instances of these jobs are terminating: "
                + ", ".join(unconfirmed)
                + ". The app stays open so the red banner can keep retrying.",
                "Press Retry terminate on the banner, or terminate them in the Lambda dashboard.",
            )
            return False
        return True

    async def _follow(self, progress: QProgressDialog, ids: set[str]) -> None:
        while True:
            jobs = await self.connector.list_jobs()
            done = sum(1 for j in jobs if j.id in ids and j.phase.is_terminal)
            progress.setValue(done)
            progress.setLabelText(
                f"Stopping jobs and terminating their instances: {done} of {len(ids)} done…"
            )
            self.progress_seen.append(done)
            await asyncio.sleep(PROGRESS_POLL_S)
