"""The live view of one job: phase, step, ETA, dollars, cancel, download, loss curves, log;
a completed job's adapter (where it is, Open folder), total cost and samples; and, when the
adapter download failed with the instance kept, Retry download or Terminate. Any job can be
cloned into the wizard or run again; a finished one that bills no more can be deleted; a
cancelled or failed one that brought back a checkpoint can be resumed; a completed one's adapter
can be pushed to the Hugging Face Hub."""

from __future__ import annotations

import asyncio
import json
import math
import tarfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from PySide6.QtCore import QObject, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QResizeEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from lambda_gui.core.errors import JobNotFoundError
from lambda_gui.core.logparse import LogEvent, MetricEvent, MetricRun
from lambda_gui.core.models import JobPhase, TrainingConfig
from lambda_gui.gui.async_slots import exec_dialog, reported_slot, run_modal, spawn
from lambda_gui.gui.dialogs.hub_push import MERGED_FILE, HubPushDialog
from lambda_gui.gui.dialogs.prompts import ask, question_box
from lambda_gui.gui.error_report import ErrorReporter
from lambda_gui.gui.models.job_row import format_duration
from lambda_gui.gui.models.jobs_table import phase_colour
from lambda_gui.gui.panels.job_progress import (
    LiveProgress,
    download_kept,
    job_row,
    status_message,
)
from lambda_gui.gui.style import BANNER_FRAME_STYLE
from lambda_gui.gui.widgets.lazy_widget import LazyWidget
from lambda_gui.gui.widgets.log_view import LogView
from lambda_gui.gui.widgets.plot_series import SERIES
from lambda_gui.gui.widgets.samples_view import (
    NO_JOB_TEXT,
    WAITING_TEXT,
    SamplesView,
)
from lambda_gui.remote.archive import safe_extract
from lambda_gui.services.events import DownloadProgress, JobLogEvents, JobLogLines
from lambda_gui.services.hub_push import TOKEN_NAME
from lambda_gui.services.job_delete import JobFolder, not_deletable
from lambda_gui.services.job_resume import CHECKPOINT_FILE, can_resume, checkpoint_path
from lambda_gui.services.log_span import LogGoneError
from lambda_gui.services.paths import AppPaths
from lambda_gui.services.ports import HubPusher, JobControl, JobDeleter, JobResumer, SampleReader
from lambda_gui.services.store import JobRecord

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from lambda_gui.gui.widgets.loss_plot import LossPlotWidget

# A running job's log is read from the start until it reaches the first live lines that
# arrived meanwhile, or no line arrives for this long; from then on the live events carry it.
CATCH_UP_S = 0.5
_BATCH_LINES = 500
TICK_SOON_MS = 100
# A stopped job can be resumed from its checkpoint (services/job_resume.py).
RESUMABLE = (JobPhase.CANCELLED, JobPhase.FAILED)
# Reading the checkpoint's step for the Resume question: trainer_state.json sits near the end
# of the archive (after the optimizer state), so the read gives up after this long.
STEP_READ_S = 1.5
_STATE_FILE = "trainer_state.json"
_CHECKING = "Looking for the job's checkpoint…"


def _loss_plot(parent: QWidget) -> QWidget:
    from lambda_gui.gui.widgets.loss_plot import LossPlotWidget

    return LossPlotWidget(parent)


def _number_or_nan(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


def _line_bytes(line: str) -> int:
    return len(line.encode("utf-8", errors="replace")) + 1


def _lines_start(event: JobLogLines) -> int:
    """The byte offset where the event's first line begins."""
    if event.start is not None:
        return event.start
    return event.offset - sum(_line_bytes(line) for line in event.lines)


def unpack_folder(archive: Path) -> Path:
    """A folder beside the archive, named after it, that does not exist yet."""
    stem = archive.name.removesuffix(".tar.gz").removesuffix(".tgz") or "adapter"
    candidate = archive.with_name(stem)
    n = 2
    while candidate.exists():
        candidate = archive.with_name(f"{stem}-{n}")
        n += 1
    return candidate


def format_bytes(count: int) -> str:
    """A size in words: bytes, KB, MB or GB (powers of 1000, as file managers show them)."""
    if count < 1000:
        return f"{count} bytes"
    size = float(count)
    for unit in ("KB", "MB", "GB"):
        size /= 1000
        if size < 1000 or unit == "GB":
            return f"{size:,.1f} {unit}"
    return f"{size:,.1f} GB"


class ProgressRelay(QObject):
    """Carries progress callbacks from a copy thread to the GUI thread (a queued signal)."""

    progress = Signal(object, object)

    def __call__(self, done: int, total: int) -> None:
        self.progress.emit(done, total)


class JobDetail(QWidget):
    """Everything about the selected job, kept live by the jobs tab; `history_read` fires
    with the job id once its log and metrics so far are shown. `clone_requested` carries a
    job's id and config for the wizard, `job_submitted` a job launched by Run again, `job_deleted`
    the id of a job whose files were deleted."""

    history_read = Signal(str)
    clone_requested = Signal(str, object)  # job id, TrainingConfig
    job_submitted = Signal(str)
    job_deleted = Signal(str)

    def __init__(
        self, connector: JobControl, reporter: ErrorReporter, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.connector = connector
        self.reporter = reporter
        self.record: JobRecord | None = None
        self.progress = LiveProgress()
        self.message = ""
        self.confirm_box: QMessageBox | None = None
        self.saved_path: Path | None = None
        self.saved_folder: Path | None = None
        # The job whose download retry is asked for, until its record changes (the button
        # stays disabled meanwhile), and the job being terminated from the failed download.
        self.retrying: str | None = None
        self.terminating: str | None = None
        # The job Run again or Delete is working on (their buttons wait meanwhile), and the
        # job whose samples are read or shown.
        self.acting: str | None = None
        self._samples_of: str | None = None
        # Whether the job on show can be resumed: the record it was checked for (id, phase,
        # updated) and why not (None: it can), and the record being checked now.
        self._resume_check: tuple[tuple[str, JobPhase, float], str | None] | None = None
        self._resume_checking: tuple[str, JobPhase, float] | None = None
        self.hub_dialog: HubPushDialog | None = None
        self._pos = 0
        self._synced = False
        self._backfilling = False
        self._held: list[JobLogLines | JobLogEvents] = []
        self._last_step: dict[str, float] = {}
        self._backfill: asyncio.Task[Any] | None = None
        # Live events refresh the step and ETA at most this often (a flood brings hundreds
        # of event batches a second; each refresh repaints the progress bar).
        self._tick_timer = QTimer(self)
        self._tick_timer.setSingleShot(True)
        self._tick_timer.setInterval(TICK_SOON_MS)
        self._tick_timer.timeout.connect(lambda: self.tick())

        self.title = QLabel("No job selected", self)
        self.title.setStyleSheet("font-size: 15px; font-weight: 600;")
        self.phase_label = QLabel(self)
        self.phase_label.setStyleSheet("font-weight: 600;")
        self.message_label = QLabel(self)
        self.message_label.setWordWrap(True)
        self.instance_value = QLabel("—", self)
        self.steps = QProgressBar(self)
        self.steps.setFormat("%v / %m steps")
        self.steps.setRange(0, 1)
        self.steps.setValue(0)
        self.eta_value = QLabel("—", self)
        self.spent_value = QLabel("—", self)
        self.projected_value = QLabel("—", self)
        self.billing_value = QLabel("—", self)
        self.inputs_value = QLabel("—", self)
        self.adapter_value = QLabel(self)
        for label in (
            self.instance_value,
            self.inputs_value,
            self.billing_value,
            self.adapter_value,
        ):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        for label in (self.instance_value, self.billing_value, self.inputs_value):
            label.setWordWrap(True)
        self.eta_name = QLabel("Time left:", self)
        self.spent_name = QLabel("Spent so far:", self)
        self.projected_name = QLabel("Projected total:", self)
        self.adapter_name = QLabel("Adapter:", self)
        self.adapter_open_button = QPushButton("Open folder", self)
        self.adapter_open_button.setToolTip(
            "Open the folder on this computer that holds the verified adapter archive"
        )

        self.cancel_button = QPushButton("Cancel job…", self)
        self.download_button = QPushButton("Download adapter…", self)
        # One word, so the actions row fits a 900 px window; the tooltip says the rest.
        self.unpack = QCheckBox("Unpack", self)
        self.unpack.setToolTip(
            "After saving the adapter archive, unpack it into a folder beside it, named after it"
        )
        self.unpack.setChecked(True)
        self.open_button = QPushButton("Open saved folder", self)
        self.open_button.setToolTip("Open the folder the adapter was saved to")
        self.open_button.hide()
        self.download_bar = QProgressBar(self)
        self.download_bar.setMaximumWidth(220)
        self.download_bar.hide()
        self.saved_label = QLabel(self)
        self.saved_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        # The adapter download failed and the instance is kept: say so, and offer both ways out.
        self.kept_box = QFrame(self)
        self.kept_box.setObjectName("kept_box")
        self.kept_box.setStyleSheet(BANNER_FRAME_STYLE.replace("#banner", "#kept_box"))
        self.kept_label = QLabel(self.kept_box)
        self.kept_label.setWordWrap(True)
        self.kept_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.retry_download_button = QPushButton("Retry download", self.kept_box)
        self.retry_download_button.setToolTip(
            "Download the adapter from the instance again (the partial download resumes), "
            "verify it, then go on as the job would have"
        )
        self.terminate_button = QPushButton("Terminate instance…", self.kept_box)
        self.terminate_button.setToolTip(
            "Terminate the instance without the adapter (it is lost with the instance)"
        )
        kept_buttons = QVBoxLayout()
        kept_buttons.addWidget(self.retry_download_button)
        kept_buttons.addWidget(self.terminate_button)
        kept_buttons.addStretch(1)
        kept_layout = QHBoxLayout(self.kept_box)
        kept_layout.setContentsMargins(10, 6, 10, 6)
        kept_layout.addWidget(self.kept_label, 1)
        kept_layout.addLayout(kept_buttons)
        self.kept_box.hide()

        # pyqtgraph loads when the Jobs tab first shows or a job's curves first arrive.
        self.plot_slot = LazyWidget(_loss_plot, self)
        self.log_view = LogView(self)
        self.samples = SamplesView(self)

        self.clone_button = QPushButton("Clone…", self)
        self.clone_button.setToolTip(
            "Open the New job tab filled in with this job's settings, to change and launch"
        )
        self.run_again_button = QPushButton("Run again…", self)
        self.delete_button = QPushButton("Delete…", self)
        # Only one of these two shows at a time (a stopped job resumes, a completed one's
        # adapter is pushed), so the row fits a 900 px window.
        self.resume_button = QPushButton("Resume…", self)
        self.hub_button = QPushButton("Push to Hub…", self)

        # Two facts a line, so the table above keeps its rows and the curves their height. In a
        # short window the facts fold away (the table row keeps the key numbers) unless the
        # user asks for them: see resizeEvent.
        self.facts = QWidget(self)
        self.facts.setObjectName("job_facts")
        grid = QGridLayout(self.facts)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setVerticalSpacing(4)
        self.details_button = QPushButton("Hide details", self)
        self.details_button.setToolTip(
            "Show or hide the job's facts (instance, billing, progress, cost, adapter); the "
            "jobs table keeps the key numbers either way"
        )
        self._facts_wanted: bool | None = None  # None: shown when there is room
        pairs: Sequence[tuple[QLabel, QWidget, QLabel, QWidget]] = (
            (
                QLabel("Instance:", self),
                self.instance_value,
                QLabel("Billing:", self),
                self.billing_value,
            ),
            (QLabel("Progress:", self), self.steps, self.eta_name, self.eta_value),
            (self.spent_name, self.spent_value, self.projected_name, self.projected_value),
        )
        top = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop
        for i, (name0, value0, name1, value1) in enumerate(pairs):
            grid.addWidget(name0, i, 0, top)
            grid.addWidget(value0, i, 1)
            grid.addWidget(name1, i, 2, top)
            grid.addWidget(value1, i, 3)
        grid.addWidget(QLabel("Model and data:", self), 3, 0, top)
        grid.addWidget(self.inputs_value, 3, 1, 1, 3)
        adapter = QHBoxLayout()
        adapter.addWidget(self.adapter_value, 1)
        adapter.addWidget(self.adapter_open_button)
        grid.addWidget(self.adapter_name, 4, 0, top)
        grid.addLayout(adapter, 4, 1, 1, 3)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        self._set_adapter_row(False)

        # The title line with what is happening; the jobs tab adds its Refresh button at its end.
        head = self.head = QHBoxLayout()
        head.addWidget(self.title)
        head.addWidget(self.phase_label)
        head.addSpacing(8)
        head.addWidget(self.message_label, 1)
        buttons = QHBoxLayout()
        for widget in (
            self.cancel_button,
            self.download_button,
            self.unpack,
            self.download_bar,
            self.open_button,
        ):
            buttons.addWidget(widget)
        buttons.addWidget(self.saved_label, 1)
        for widget in (
            self.resume_button,
            self.hub_button,
            self.clone_button,
            self.run_again_button,
            self.delete_button,
        ):
            buttons.addWidget(widget)
        buttons.addWidget(self.details_button)

        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(self.plot_slot)
        split.addWidget(self.log_view)
        split.setSizes([450, 550])
        # Tabs on the side: a tab bar above would take its height from the curves, which a
        # 900x600 window with both money banners up cannot spare.
        self.views = QTabWidget(self)
        self.views.setDocumentMode(True)
        self.views.setTabPosition(QTabWidget.TabPosition.West)
        self.views.addTab(split, "Curves and log")
        self.views.addTab(self.samples, "Samples")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(head)
        layout.addWidget(self.kept_box)
        layout.addWidget(self.facts)
        layout.addLayout(buttons)
        layout.addWidget(self.views, 1)

        self.cancel_button.clicked.connect(self.cancel_job)
        self.download_button.clicked.connect(self.download_adapter)
        self.open_button.clicked.connect(self.open_folder)
        self.adapter_open_button.clicked.connect(self.open_adapter_folder)
        self.retry_download_button.clicked.connect(self.retry_download)
        self.terminate_button.clicked.connect(self.terminate_kept)
        self.details_button.clicked.connect(self._toggle_facts)
        self.clone_button.clicked.connect(self.clone_job)
        self.run_again_button.clicked.connect(self.run_again)
        self.delete_button.clicked.connect(self.delete_job)
        self.resume_button.clicked.connect(self.resume_job)
        self.hub_button.clicked.connect(self.push_to_hub)
        self._update_buttons()

    # -- room for the curves ------------------------------------------------------------

    # Below this height the facts would leave the curves a sliver: they fold away.
    FACTS_MIN_HEIGHT = 440

    @property
    def plot(self) -> LossPlotWidget:
        """The loss and learning-rate chart (built, and pyqtgraph loaded, on first use)."""
        return cast("LossPlotWidget", self.plot_slot.widget)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802  (Qt's name)
        super().resizeEvent(event)
        self._show_facts()

    def _toggle_facts(self) -> None:
        self._facts_wanted = not self.facts.isVisibleTo(self)
        self._show_facts()

    def _show_facts(self) -> None:
        wanted = self._facts_wanted
        shown = self.height() >= self.FACTS_MIN_HEIGHT if wanted is None else wanted
        self.facts.setVisible(shown)
        self.details_button.setText("Hide details" if shown else "Show details")

    # -- which job --------------------------------------------------------------------

    @property
    def job_id(self) -> str | None:
        """The job on show."""
        return self.record.id if self.record is not None else None

    def show_job(self, record: JobRecord, progress: LiveProgress, message: str = "") -> None:
        """Show a job: its log and curves are read from the start, then followed live."""
        if self._backfill is not None:
            self._backfill.cancel()
        self.record = record
        self.progress = progress
        self.message = message
        self.saved_path = self.saved_folder = None
        self.saved_label.setText("")
        self.open_button.hide()
        self.download_bar.hide()
        self.log_view.clear()
        self.plot.clear()
        self._pos = 0
        self._synced = False
        self._last_step = {}
        self._held = []
        self._backfilling = True
        self._samples_of = None
        self.update_record(record, message)
        self._backfill = spawn(
            self._read_history(record.id, record.phase.is_terminal),
            f"backfill:{record.id}",
            self.reporter,
            "Could not read the job's log",
        )

    @property
    def backfilling(self) -> bool:
        """True while the log and metrics so far are being read."""
        return self._backfilling

    def update_record(self, record: JobRecord, message: str | None = None) -> None:
        """The store's record of the job on show changed."""
        if record.id != self.job_id:
            return
        if self.retrying == record.id and not _kept_since_retry(self.record, record):
            self.retrying = None  # the retry moved the job on: its record is the truth again
        self.record = record
        if message:
            self.message = message
        cfg = record.config
        self.title.setText(f"{cfg.project_name} · {record.id}")
        row = job_row(record)
        colour = phase_colour(record.phase, row.billing_after_end)
        self.phase_label.setText(row.status_text())
        self.phase_label.setStyleSheet(
            "font-weight: 600;" + (f" color: {colour.name()};" if colour is not None else "")
        )
        self.message_label.setText(status_message(record, self.message))
        kept = download_kept(record)
        self.kept_label.setText(record.error or "")
        self.kept_box.setVisible(kept)
        self.message_label.setVisible(not kept)  # the box says it, prominently
        region = f" in {record.region}" if record.region else ""
        rate = f" · ${record.price_cents_per_hour / 100:,.2f}/h"
        ident = f" · instance {record.instance_id}" if record.instance_id else ""
        self.instance_value.setText(f"{record.instance_type}{region}{rate}{ident}")
        data = Path(cfg.dataset_path).name if cfg.dataset_path else "—"
        self.inputs_value.setText(f"{cfg.base_model} · {cfg.algorithm} r={cfg.rank} · {data}")
        adapter = record.adapter_path if record.phase is JobPhase.COMPLETED else None
        self.adapter_value.setText(adapter or "")
        self._set_adapter_row(bool(adapter))
        self._show_samples(record)
        self.tick()
        self._update_buttons()

    def clear(self) -> None:
        """Show no job (the one on show was deleted)."""
        if self._backfill is not None:
            self._backfill.cancel()
        self.record = None
        self.message = ""
        self._backfilling = False
        self._held = []
        self._samples_of = None
        self.title.setText("No job selected")
        self.phase_label.setText("")
        self.message_label.setText("")
        self.message_label.show()
        self.kept_box.hide()
        self.saved_label.setText("")
        self.open_button.hide()
        self.log_view.clear()
        self.plot.clear()
        for label in (self.instance_value, self.inputs_value, self.billing_value):
            label.setText("—")
        self._set_adapter_row(False)
        self.samples.show_message(NO_JOB_TEXT)
        self.views.setTabText(self.views.indexOf(self.samples), "Samples")
        self._update_buttons()

    # -- samples ------------------------------------------------------------------------

    def _show_samples(self, record: JobRecord) -> None:
        """A completed job's samples are read once it completes (or is shown completed)."""
        index = self.views.indexOf(self.samples)
        if record.phase is not JobPhase.COMPLETED:
            self._samples_of = None
            self.samples.show_message(WAITING_TEXT)
            self.views.setTabText(index, "Samples")
            return
        if self._samples_of == record.id:
            return
        self._samples_of = record.id
        source = self.connector
        if not isinstance(source, SampleReader):
            self.samples.show_message("This view cannot read samples.")
            return
        spawn(
            self._load_samples(source, record.id),
            f"samples:{record.id}",
            self.reporter,
            "Could not read the job's samples",
        )

    async def _load_samples(self, source: SampleReader, job_id: str) -> None:
        try:
            shown = await self.samples.load(source, job_id)
        except JobNotFoundError:
            if self.job_id == job_id:
                self.samples.show_message("This job is no longer in the job store.")
            return  # deleted meanwhile (from another window): nothing to read
        except Exception:
            if self.job_id == job_id:
                self._samples_of = None  # read again when the job is shown again
                self.samples.show_message("The samples could not be read.")
            raise
        if shown and self.job_id == job_id:
            count = self.samples.count
            index = self.views.indexOf(self.samples)
            self.views.setTabText(index, f"Samples ({count})" if count else "Samples")

    # -- live feed ----------------------------------------------------------------------

    def on_log_lines(self, event: JobLogLines) -> None:
        """New log lines of some job (the bridge's signal)."""
        if event.job_id != self.job_id:
            return
        if self._backfilling:
            self._held.append(event)
        else:
            self._apply_lines(event)

    def on_log_events(self, event: JobLogEvents) -> None:
        """Parsed log events of some job (the bridge's signal)."""
        if event.job_id != self.job_id:
            return
        if self._backfilling:
            self._held.append(event)
        else:
            self._apply_events(event.events)

    def on_remote_download(self, event: DownloadProgress) -> None:
        """The pipeline fetching the adapter from the instance."""
        if event.job_id == self.job_id and event.total > 0:
            self.message_label.setText(
                f"Fetching the adapter from the instance: {event.done / 2**20:.1f} of "
                f"{event.total / 2**20:.1f} MiB"
            )

    def _apply_lines(self, event: JobLogLines) -> None:
        if self._synced:
            # Past the backfill every line arrives once, in order: no offset arithmetic
            # that a late offset could turn into a dropped line.
            self.log_view.append_lines(event.lines, event.shown)
            self._pos = max(self._pos, event.offset)
            return
        if event.offset <= self._pos:
            return
        if event.start is not None and event.start >= self._pos:
            # Nothing the backfill showed: the lines as they came (a flood's, unsplit).
            self.log_view.append_lines(event.lines, event.shown)
        else:
            lines = event.lines
            start = _lines_start(event)
            shown = 0  # of the event's first lines, those the backfill showed already
            try:
                while shown < len(lines) and start < self._pos:
                    start += _line_bytes(lines[shown])
                    shown += 1
            except LogGoneError:  # the job's folder went: its rows (event.shown) still show
                shown = 0
            # `shown` covers the last lines: what was cut from the front leaves it as it is.
            self.log_view.append_lines(lines[shown:] if shown else lines, event.shown)
        self._pos = event.offset
        self._synced = True

    def _apply_events(self, events: Iterable[LogEvent]) -> None:
        # The batch's metrics gathered into columns, runs and single events alike, in order:
        # one add_columns per batch.
        steps: list[float] = []
        epochs: list[float | None] = []
        times: list[float | None] = []
        # A series' column from the first event that has it (None before; filled at the end).
        values: dict[str, list[float | None]] = {}
        planned: int | None = None  # the job's max_steps, as the metrics say
        for event in events:
            if isinstance(event, MetricRun):
                planned = event.planned_steps or planned
                given = [name for name in SERIES if name in event.values]
                for name in given:
                    column = values.setdefault(name, [])
                    column += [None] * (len(steps) - len(column))
                    column += event.values[name]
                steps += event.steps
                epochs += event.epochs
                times += event.times
            elif (
                isinstance(event, MetricEvent) and event.source == "lgui" and event.step is not None
            ):
                planned = event.max_steps or planned
                for name in SERIES:
                    value = event.values.get(name)
                    if value is not None:
                        column = values.setdefault(name, [])
                        column += [None] * (len(steps) - len(column))
                        column.append(value)
                steps.append(event.step)
                epochs.append(event.epoch)
                times.append(event.time)
        if steps:
            if planned is not None and planned > 0:
                self.plot.plan_steps(planned)
            for column in values.values():
                column += [None] * (len(steps) - len(column))
            self._add_columns(steps, epochs, times, values)
            self.plot.note_live(len(steps))  # a flood's are a stream from its first redraw
        self._tick_soon()

    def _add_metrics(self, records: Iterable[Mapping[str, Any]]) -> None:
        """metrics.jsonl records (the backfill of a job selected mid-run)."""
        kept = [r for r in records if isinstance(r.get("step"), int | float)]
        if kept:
            self._add_columns(
                [float(r["step"]) for r in kept],
                [_number_or_nan(r.get("epoch")) for r in kept],
                [_number_or_nan(r.get("time")) for r in kept],
                {name: [_number_or_none(r.get(name)) for r in kept] for name in SERIES},
            )

    def _add_columns(
        self,
        steps: Sequence[float],
        epochs: Sequence[float | None],
        times: Sequence[float | None],
        values: Mapping[str, Sequence[float | None]],
    ) -> None:
        # One add_clocks and one add_points per series for the whole batch: a flood of
        # metrics costs per batch, not per point. A series takes a value only past the last
        # step it holds (a resumed or re-read log repeats steps).
        import numpy as np  # loaded with the curves, after the first paint

        plot = self.plot
        at = np.asarray(steps, dtype=np.float64)
        # Where the steps lie in epochs and seconds: the chart's other x axes (None: NaN).
        plot.add_clocks(at, np.array(epochs, dtype=np.float64), np.array(times, dtype=np.float64))
        last = self._last_step
        for name, column in values.items():
            xs, ys = _past_last(at, column, last.get(name, -1.0))
            if xs.size:
                last[name] = float(xs[-1])
                plot.add_points(name, xs, ys)

    async def _read_history(self, job_id: str, terminal: bool) -> None:
        try:
            records = await self.connector.read_metrics(job_id)
            if job_id != self.job_id:
                return
            self._add_metrics(records)
            self.progress.feed_metrics(records)
            self._pos = await self._read_log(job_id, terminal)
        finally:
            if job_id == self.job_id:
                self._backfilling = False
                held, self._held = self._held, []
                for item in held:
                    if isinstance(item, JobLogLines):
                        self._apply_lines(item)
                    else:
                        self._apply_events(item.events)
                self.tick()
                self.history_read.emit(job_id)

    def _live_from(self) -> int | None:
        """Where the first live lines held during the backfill start (byte offset)."""
        for item in self._held:
            if isinstance(item, JobLogLines):
                return _lines_start(item)
        return None

    async def _read_log(self, job_id: str, terminal: bool) -> int:
        pos = 0
        batch: list[str] = []
        lines = self.connector.stream_logs(job_id, 0).__aiter__()
        try:
            while True:
                try:
                    if terminal:
                        line = await anext(lines)
                    else:
                        line = await asyncio.wait_for(anext(lines), CATCH_UP_S)
                except (StopAsyncIteration, TimeoutError):
                    break
                batch.append(line)
                pos += _line_bytes(line)
                live = self._live_from()
                if not terminal and live is not None and pos >= live:
                    break  # the held live lines carry on from here
                if len(batch) >= _BATCH_LINES:
                    self.log_view.append_lines(batch)
                    batch = []
                    await asyncio.sleep(0)
        finally:
            await lines.aclose()  # type: ignore[attr-defined]
        self.log_view.append_lines(batch)
        return pos

    # -- clock ----------------------------------------------------------------------------

    def _tick_soon(self) -> None:
        if not self._tick_timer.isActive():
            self._tick_timer.start()

    def tick(self, now: float | None = None) -> None:
        """Refresh step, ETA and dollars (the tab's 1 s timer calls this)."""
        record = self.record
        if record is None:
            return
        now = time.time() if now is None else now
        row = job_row(record, self.progress)
        total = self.progress.total or 0
        self.steps.setRange(0, max(1, total))
        self.steps.setValue(min(self.progress.step or 0, max(1, total)))
        idle = "no steps logged" if record.phase.is_terminal else "not started"
        self.steps.setFormat("%v / %m steps" if total else idle)
        over = record.phase.is_terminal
        eta = row.eta_seconds(now)
        self.eta_name.setText("Duration:" if over else "Time left:")
        if over:
            self.eta_value.setText(format_duration(row.elapsed_seconds(now)))
        elif eta is not None:
            self.eta_value.setText(f"about {format_duration(eta)} of training")
        else:
            self.eta_value.setText("—")
        spent = row.cost_so_far(now)
        final = over and not row.billing
        self.spent_name.setText("Total cost:" if final else "Spent so far:")
        if row.billing_started_at is None:
            nothing = "no instance was launched" if over else "no instance yet"
            self.spent_value.setText(f"$0.00 ({nothing})")
        else:
            self.spent_value.setText(
                f"${spent:,.2f} over {format_duration(row.billed_seconds(now))}"
            )
        self.projected_name.setVisible(not final)
        self.projected_value.setVisible(not final)
        projected = row.projected_cost(now)
        if download_kept(record):
            self.projected_value.setText("open: billing until you retry or terminate")
        elif row.billing_after_end:
            self.projected_value.setText("open: billing until the instance is terminated")
        else:
            self.projected_value.setText(f"${projected:,.2f}" if projected is not None else "—")
        self.billing_value.setText(record.billing.label)

    # -- actions --------------------------------------------------------------------------

    def _set_adapter_row(self, shown: bool) -> None:
        for widget in (self.adapter_name, self.adapter_value, self.adapter_open_button):
            widget.setVisible(shown)

    def _update_buttons(self) -> None:
        record = self.record
        kept = record is not None and download_kept(record)
        over = record is not None and record.phase.is_terminal
        stoppable = record is not None and not kept and (not over or record.billing.may_bill)
        # Named for what it does: a finished job's button only ends the instance's billing.
        self.cancel_button.setText("Terminate instance…" if over else "Cancel job…")
        self.cancel_button.setToolTip(
            "Terminate the instance, which still bills; the job itself is over"
            if over
            else "Stop training and terminate the instance"
        )
        busy = record is not None and record.id == self.terminating
        self.cancel_button.setEnabled(stoppable and not busy)
        self.cancel_button.setVisible(stoppable)
        self.download_button.setEnabled(
            record is not None and record.phase is JobPhase.COMPLETED and bool(record.adapter_path)
        )
        busy = record is not None and record.id in (self.retrying, self.terminating)
        self.retry_download_button.setEnabled(kept and not busy)
        self.terminate_button.setEnabled(kept and not busy)
        self.retry_download_button.setText(
            "Retrying…" if record is not None and record.id == self.retrying else "Retry download"
        )
        self._update_job_actions(record)

    def _update_job_actions(self, record: JobRecord | None) -> None:
        """Clone, Run again and Delete, each with a tooltip saying what it does or why not."""
        busy = record is not None and record.id == self.acting
        self.clone_button.setEnabled(record is not None)
        over = record is not None and record.phase.is_terminal
        self.run_again_button.setEnabled(over and not busy)
        self.run_again_button.setToolTip(
            "Launch a new job with exactly this job's settings (asks first)"
            if over or record is None
            else "The job is still going: Clone… starts another like it"
        )
        why = not_deletable(record) if record is not None else "No job is selected."
        if why is None and not isinstance(self.connector, JobDeleter):
            why = "This view cannot delete jobs."
        self.delete_button.setEnabled(why is None and not busy)
        self.delete_button.setToolTip(
            "Delete this job's files on this computer and its row in the list; nothing on "
            "Lambda Cloud is touched (asks first)"
            if why is None
            else f"Cannot delete now. {why}"
        )
        self._update_resume(record, busy)
        self._update_hub(record)

    def _update_resume(self, record: JobRecord | None, busy: bool) -> None:
        """Resume…: shown for a cancelled or failed job, enabled once its checkpoint is found."""
        self.resume_button.setVisible(record is not None and record.phase in RESUMABLE)
        why: str | None
        if record is None:
            why = "No job is selected."
        elif record.phase is JobPhase.COMPLETED:
            why = (
                "The job completed: there is nothing to resume. Clone… trains further with new "
                "settings."
            )
        elif record.phase not in RESUMABLE:
            why = "The job is still going; a cancelled or failed job with a checkpoint resumes."
        elif not isinstance(self.connector, JobResumer):
            why = "This view cannot resume jobs."
        else:
            key = (record.id, record.phase, record.updated_at)
            checked = self._resume_check
            if checked is not None and checked[0] == key:
                why = checked[1]
            else:
                why = _CHECKING
                if self._resume_checking != key:
                    self._resume_checking = key
                    spawn(
                        self._check_checkpoint(self.connector, record, key),
                        f"checkpoint:{record.id}",
                        self.reporter,
                        "Could not look for the job's checkpoint",
                    )
        self.resume_button.setEnabled(why is None and not busy)
        self.resume_button.setToolTip(
            "Continue this job from its last checkpoint (weights, optimizer and scheduler "
            "state) on a new instance, with the same settings (asks first)"
            if why is None
            else why
            if why == _CHECKING
            else f"Cannot resume. {why}"
        )

    async def _check_checkpoint(
        self, resumer: JobResumer, record: JobRecord, key: tuple[str, JobPhase, float]
    ) -> None:
        try:
            why = await asyncio.to_thread(_resume_problem, record, resumer.paths)
        finally:
            if self._resume_checking == key:
                self._resume_checking = None
        self._resume_check = (key, why)
        if self.record is not None and self.record.id == record.id:
            self._update_buttons()

    def _update_hub(self, record: JobRecord | None) -> None:
        """Push to Hub…: shown for a completed job, enabled when its adapter is here."""
        self.hub_button.setVisible(record is not None and record.phase is JobPhase.COMPLETED)
        why: str | None = None
        if record is None:
            why = "No job is selected."
        elif record.phase is not JobPhase.COMPLETED:
            why = "Only a completed job's adapter is pushed."
        elif not record.adapter_path:
            why = "The adapter is not on this computer."
        elif not isinstance(self.connector, HubPusher):
            why = "This view cannot push to the Hub."
        self.hub_button.setEnabled(why is None)
        self.hub_button.setToolTip(
            "Upload the adapter, with a model card and the loss curve, to a model repo on the "
            "Hugging Face Hub (private by default)"
            if why is None
            else f"Cannot push. {why}"
        )

    @reported_slot("Could not cancel the job")
    async def cancel_job(self) -> None:
        """Ask, then stop training and terminate the instance (a finished job whose instance
        still bills: ask, then terminate the instance)."""
        record = self.record
        if record is None:
            return
        if record.phase.is_terminal:
            await self._terminate_finished(record)
            return
        box = question_box(
            self,
            "Cancel this job?",
            f"Stop training {record.config.project_name} ({record.id}) and terminate its "
            "instance? The log and the last checkpoint are saved when possible; the rest of "
            "the run is lost.",
            "Cancel job and terminate",
            "Keep running",
        )
        self.confirm_box = box
        if not await ask(box):
            return
        self.cancel_button.setEnabled(False)
        self.message_label.setText("Cancelling: stopping training and terminating the instance…")
        await self._cancel_and_check(record)

    async def _terminate_finished(self, record: JobRecord) -> None:
        if not record.billing.may_bill:
            return
        rate = f"${record.price_cents_per_hour / 100:,.2f}/h"
        kept = (
            " The adapter is saved on this computer."
            if record.phase is JobPhase.COMPLETED and record.adapter_path
            else " Anything left on it is lost."
        )
        box = question_box(
            self,
            "Terminate the instance?",
            f"Terminate instance {record.instance_name} of job {record.config.project_name} "
            f"({record.id})? The job is over, but the instance bills {rate} until it is "
            f"terminated.{kept}",
            "Terminate instance",
            "Keep it",
        )
        await self._terminate_if_confirmed(box, record, self.message_label)

    async def _terminate_if_confirmed(
        self, box: QMessageBox, record: JobRecord, status: QLabel
    ) -> None:
        """Ask `box`; on yes, terminate the job's instance, saying so in `status`."""
        self.confirm_box = box
        if not await ask(box):
            return
        self.terminating = record.id
        self._update_buttons()
        status.setText("Terminating the instance…")
        try:
            await self._cancel_and_check(record)
        finally:
            self.terminating = None
            self._update_buttons()

    async def _cancel_and_check(self, record: JobRecord) -> None:
        confirmed = await self.connector.cancel_job(record.id)
        if not confirmed:
            self.reporter.report(
                "The instance is not confirmed gone",
                f"Lambda did not confirm that the instance of job {record.id} is terminating.",
                "Check the Lambda dashboard and terminate it there if it is still running.",
            )

    def clone_job(self) -> None:
        """Hand a copy of the job's config to the wizard (the main window opens it)."""
        if self.record is not None:
            config = TrainingConfig.from_dict(self.record.config.to_dict())
            self.clone_requested.emit(self.record.id, config)

    @reported_slot("Could not run the job again")
    async def run_again(self) -> None:
        """Ask (naming the instance type and what the last run cost), then launch a new job
        with the same config; `job_submitted` carries its id."""
        record = self.record
        if record is None or not record.phase.is_terminal or self.acting == record.id:
            return
        box = question_box(
            self,
            "Run this job again?",
            run_again_text(record, time.time()),
            "Launch again",
            "Don't launch",
        )
        self.confirm_box = box
        if not await ask(box):
            return
        self.acting = record.id
        self._update_buttons()
        try:
            # A fresh copy: the stored config keeps tracker secrets by name; submit reads
            # their values from the keyring as for any job.
            config = TrainingConfig.from_dict(record.config.to_dict())
            job_id = await self.connector.submit_job(config)
        finally:
            self.acting = None
            self._update_buttons()
        self.job_submitted.emit(job_id)

    @reported_slot("Could not delete the job")
    async def delete_job(self) -> None:
        """Ask (naming the folder and its size), then delete the job's local files and its row;
        `job_deleted` carries its id. Refused while it may bill or is not over."""
        record = self.record
        deleter = self.connector
        if (
            record is None
            or not_deletable(record) is not None
            or not isinstance(deleter, JobDeleter)
            or self.acting == record.id
        ):
            return
        folder = await deleter.job_folder(record.id)
        if self.record is None or self.record.id != record.id:
            return
        box = question_box(
            self,
            "Delete this job?",
            delete_text(record, folder),
            "Delete job",
            "Keep it",
        )
        self.confirm_box = box
        if not await ask(box):
            return
        self.acting = record.id
        self._update_buttons()
        try:
            await deleter.delete_job(record.id)
        finally:
            self.acting = None
            self._update_buttons()
        if self.job_id == record.id:
            self.clear()
        self.job_deleted.emit(record.id)

    @reported_slot("Could not resume the job")
    async def resume_job(self) -> None:
        """Ask (naming the checkpoint's step, the instance type and its rate), then launch a
        job that continues this one from its checkpoint; `job_submitted` carries its id."""
        record = self.record
        resumer = self.connector
        if (
            record is None
            or record.phase not in RESUMABLE
            or not isinstance(resumer, JobResumer)
            or self.acting == record.id
        ):
            return
        archive = checkpoint_path(await asyncio.to_thread(resumer.paths.job_dir, record.id))
        step, size = await asyncio.to_thread(checkpoint_facts, archive)
        if self.record is None or self.record.id != record.id:
            return
        box = question_box(
            self,
            "Resume this job?",
            resume_text(record, step, size),
            "Resume on a new instance",
            "Don't resume",
        )
        self.confirm_box = box
        if not await ask(box):
            return
        self.acting = record.id
        self._update_buttons()
        try:
            job_id = await resumer.resume_job(record.id)
        finally:
            self.acting = None
            self._update_buttons()
        self.job_submitted.emit(job_id)

    @reported_slot("Could not push to the Hub")
    async def push_to_hub(self) -> None:
        """The Push to Hub dialog over a completed job's adapter (it asks for a token when the
        keyring has none, pushes, and shows the repo's URL or what went wrong)."""
        record = self.record
        pusher = self.connector
        if (
            record is None
            or record.phase is not JobPhase.COMPLETED
            or not record.adapter_path
            or not isinstance(pusher, HubPusher)
        ):
            return
        saved = bool((await pusher.secrets.secret(TOKEN_NAME) or "").strip())
        merged = await asyncio.to_thread(_merged_archive, pusher.paths, record.id)
        if self.record is None or self.record.id != record.id:
            return
        dialog = HubPushDialog(
            pusher, record, self.reporter, token_saved=saved, merged=merged, parent=self
        )
        self.hub_dialog = dialog
        try:
            await exec_dialog(dialog)
        finally:
            if self.hub_dialog is dialog and not dialog.busy:
                self.hub_dialog = None
                dialog.deleteLater()

    @reported_slot("Could not retry the download")
    async def retry_download(self) -> None:
        """Download the adapter of a job whose download failed again (its instance was kept);
        the button stays disabled until the job's record moves on."""
        record = self.record
        if record is None or not download_kept(record) or self.retrying == record.id:
            return
        self.retrying = record.id
        self._update_buttons()
        started = False
        try:
            started = await self.connector.retry_download(record.id)
        finally:
            if not started and self.retrying == record.id:
                self.retrying = None
            self._update_buttons()
        if not started:
            self.reporter.report(
                "The download was not retried",
                f"Job {record.id} is not waiting for a download retry, or this app or another "
                "one is driving it already.",
                "Wait for its next update; if it still says the download failed, retry again.",
            )

    @reported_slot("Could not terminate the instance")
    async def terminate_kept(self) -> None:
        """Ask (naming what it costs per hour), then terminate the instance a failed download
        kept, adapter and all."""
        record = self.record
        if record is None or not download_kept(record):
            return
        rate = f"${record.price_cents_per_hour / 100:,.2f}/h"
        box = question_box(
            self,
            "Terminate the instance?",
            f"Terminate instance {record.instance_name} of job {record.config.project_name} "
            f"({record.id})? It is billing {rate} until it is terminated. The trained adapter "
            "is only on that instance: it is lost with it. Retry download keeps it instead.",
            "Terminate instance",
            "Keep it",
        )
        await self._terminate_if_confirmed(box, record, self.kept_label)

    @reported_slot("Could not save the adapter")
    async def download_adapter(self) -> None:
        """Ask where, copy the verified adapter there, optionally unpack it."""
        record = self.record
        if record is None:
            return
        default = Path.home() / f"{record.config.project_name}-{record.id}-adapter.tar.gz"
        chosen, _filter = await run_modal(
            lambda: QFileDialog.getSaveFileName(
                self, "Save the adapter", str(default), "Adapter archive (*.tar.gz)"
            )
        )
        if not chosen:
            return
        dest = Path(chosen)
        if not dest.name.endswith((".tar.gz", ".tgz")):
            dest = dest.with_name(dest.name + ".tar.gz")
        relay = ProgressRelay(self)
        relay.progress.connect(self._on_copy_progress)
        self.download_bar.setRange(0, 0)
        self.download_bar.show()
        self.download_button.setEnabled(False)
        try:
            saved = await self.connector.download_artifact(record.id, dest, relay)
            folder = saved.parent
            if self.unpack.isChecked():
                folder = unpack_folder(saved)
                await asyncio.to_thread(safe_extract, saved, folder)
        finally:
            self.download_bar.hide()
            self._update_buttons()
            relay.deleteLater()
        self.saved_path, self.saved_folder = saved, folder
        what = f"unpacked into {folder}" if folder != saved.parent else f"saved as {saved}"
        self.saved_label.setText(f"Adapter verified and {what}")
        self.open_button.show()

    def _on_copy_progress(self, done: int, total: int) -> None:
        if total > 0:
            self.download_bar.setRange(0, 1000)
            self.download_bar.setValue(int(1000 * done / total))

    def open_folder(self) -> bool:
        """Open the folder the adapter was saved to in the file manager."""
        if self.saved_folder is None:
            return False
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.saved_folder)))

    def open_adapter_folder(self) -> bool:
        """Open the folder holding a completed job's verified adapter archive."""
        record = self.record
        if record is None or not record.adapter_path:
            return False
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(record.adapter_path).parent)))


def _resume_problem(record: JobRecord, paths: AppPaths) -> str | None:
    """Why the job cannot be resumed from what is on this computer; None when it can."""
    job_dir = paths.job_dir(record.id)
    if not can_resume(record, job_dir):
        return (
            "No checkpoint came back: the job stopped before its first save, or its instance "
            "was gone before the app could copy one."
        )
    side = checkpoint_path(job_dir).with_name(CHECKPOINT_FILE + ".sha256")
    if not side.is_file():
        return (
            f"The checkpoint came back without its checksum file ({side.name}), so it cannot "
            "be checked."
        )
    return None


def _merged_archive(paths: AppPaths, job_id: str) -> Path | None:
    path = paths.job_dir(job_id) / MERGED_FILE
    return path if path.is_file() else None


class _OutOfTime(Exception):
    """Reading the archive took longer than it is worth."""


class _Deadline:
    """A binary file whose reads stop (raising _OutOfTime) once `deadline` has passed."""

    def __init__(self, raw: IO[bytes], deadline: float) -> None:
        self.raw = raw
        self.deadline = deadline

    def read(self, size: int = -1, /) -> bytes:
        if time.monotonic() > self.deadline:
            raise _OutOfTime
        return self.raw.read(size)

    def write(self, data: bytes, /) -> int:
        raise OSError("read only")

    def tell(self) -> int:
        return self.raw.tell()

    def seek(self, pos: int, /) -> int:
        return self.raw.seek(pos)

    def close(self) -> None:
        """The file is closed by its owner."""


def checkpoint_facts(archive: Path, within: float = STEP_READ_S) -> tuple[int | None, int | None]:
    """The step a checkpoint archive was saved at (trainer_state.json's global_step) and its
    size in bytes; None for what could not be read (within `within` seconds, for the step)."""
    try:
        size = archive.stat().st_size
    except OSError:
        return None, None
    step: int | None = None
    try:
        with archive.open("rb") as raw:
            stream = _Deadline(raw, time.monotonic() + within)
            with tarfile.open(fileobj=stream, mode="r|*") as tar:
                for member in tar:
                    if not member.isfile() or member.name.rsplit("/", 1)[-1] != _STATE_FILE:
                        continue
                    if member.size > 16 * 2**20:
                        break
                    data = tar.extractfile(member)
                    if data is None:
                        break
                    state = json.loads(data.read())
                    value = state.get("global_step") if isinstance(state, dict) else None
                    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                        step = value
                    break
    except (_OutOfTime, OSError, tarfile.TarError, ValueError, EOFError):
        pass
    return step, size


def resume_text(record: JobRecord, step: int | None, size: int | None) -> str:
    """The Resume question: from which step, on what instance at what rate, what is sent."""
    cfg = record.config
    rate = record.price_cents_per_hour / 100
    where = f"its checkpoint at step {step:,}" if step is not None else "its last checkpoint"
    held = f" ({format_bytes(size)})" if size else ""
    text = (
        f"Resume {cfg.project_name} ({record.id}) from {where}, as a new job on a new "
        f"{record.instance_type} instance (${rate:,.2f}/h when this one ran)? Training goes on "
        "from there with the same settings: the checkpoint"
        f"{held} is uploaded to the new instance first, with the optimizer and scheduler state."
    )
    if cfg.budget_usd:
        text += f" Its budget cap stops the new job at ${cfg.budget_usd:,.2f}."
    return text + " Billing starts when Lambda accepts the launch."


def run_again_text(record: JobRecord, now: float) -> str:
    """The Run again question: the instance type, its rate and what the last run cost."""
    cfg = record.config
    row = job_row(record)
    rate = record.price_cents_per_hour / 100
    text = (
        f"Launch {cfg.project_name} again with the same settings, as a new job on a new "
        f"{record.instance_type} instance (${rate:,.2f}/h when this one ran)?"
    )
    if row.billing_started_at is None:
        text += " No estimate of its cost: this run launched no instance."
    elif record.phase is JobPhase.COMPLETED:
        cost = row.cost_so_far(now)
        took = format_duration(row.billed_seconds(now))
        text += f" Estimated cost: about ${cost:,.2f}, what this run cost over {took}."
    else:
        text += (
            f" This run ended early after ${row.cost_so_far(now):,.2f}, so there is no "
            "estimate of a whole run."
        )
    if cfg.budget_usd:
        text += f" Its budget cap stops it at ${cfg.budget_usd:,.2f}."
    return text + " Billing starts when Lambda accepts the launch."


def delete_text(record: JobRecord, folder: JobFolder) -> str:
    """The Delete question: what goes (the folder and its size) and what stays."""
    name = f"{record.config.project_name} ({record.id})"
    held = format_bytes(folder.bytes) if folder.bytes else "empty or missing"
    return (
        f"Delete job {name} from this computer? Its row in the jobs list goes, and its folder "
        f"{folder.path} ({held}): its log, metrics, and any samples and adapter archive kept there. "
        "Adapters you saved elsewhere stay. The instance is not touched: nothing is asked of "
        "Lambda Cloud (this job's instance is already gone or was never launched). This "
        "cannot be undone."
    )


def _kept_since_retry(before: JobRecord | None, after: JobRecord) -> bool:
    """True when `after` is the very failure a retry was asked for (nothing moved yet)."""
    return (
        before is not None
        and download_kept(after)
        and after.error == before.error
        and after.updated_at == before.updated_at
    )


def _number_or_none(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _past_last(
    steps: NDArray[np.float64], column: Sequence[float | None], after: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The (step, value) pairs of a column that a series takes: those with a value (None:
    none) whose step lies past every earlier such step and past `after` (the series' last
    step). Vectorised: a flood brings tens of thousands of metrics a batch."""
    import numpy as np

    if len(column) != len(steps):
        raise ValueError(f"{len(column)} values for {len(steps)} steps")
    if not len(column):
        return steps[:0], steps[:0]
    cells = np.array(column, dtype=object)
    present: NDArray[np.bool_] = cells != None  # noqa: E711  (elementwise, on objects)
    # A number's step must pass the largest step of the numbers before it (and `after`).
    candidates = np.where(present, steps, -np.inf)
    before = np.maximum.accumulate(np.concatenate(([after], candidates[:-1])))
    keep = present & (steps > before)
    return steps[keep], np.array(column, dtype=np.float64)[keep]
