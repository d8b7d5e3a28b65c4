"""The New job tab: the wizard's pages, Back / Next / Launch, and Save / Load config."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from lambda_gui.assets import load_json
from lambda_gui.core.billing import BillingTerms
from lambda_gui.core.errors import ConfigError
from lambda_gui.core.models import Resource
from lambda_gui.core.planner import pricing_by_terms
from lambda_gui.core.wizard import FieldError, Step, Wizard
from lambda_gui.gui.async_slots import reported_slot, run_modal
from lambda_gui.gui.error_report import ErrorReporter
from lambda_gui.gui.style import ERROR_COLOUR
from lambda_gui.gui.wizard.after_page import AfterPage
from lambda_gui.gui.wizard.after_step import add_after_step, estimate_job
from lambda_gui.gui.wizard.compute_page import ComputePage
from lambda_gui.gui.wizard.dataset_page import DatasetPage
from lambda_gui.gui.wizard.hyper_page import HyperPage
from lambda_gui.gui.wizard.limits_page import LimitsPage
from lambda_gui.gui.wizard.method_page import MethodPage
from lambda_gui.gui.wizard.model_page import ModelPage
from lambda_gui.gui.wizard.review_page import ReviewPage
from lambda_gui.gui.wizard.step_page import StepPage
from lambda_gui.services.model_shape import ModelShapes
from lambda_gui.services.ports import JobSubmitter

CONFIG_FILTER = "Job configs (*.json);;All files (*)"
# Launch is the one button that spends money: filled in the accent colour (white text at
# 5.2:1), so it does not read as another Next. Disabled, dark grey on light grey (5.6:1).
PRIMARY_BACKGROUND = "#0969da"
PRIMARY_TEXT = "#ffffff"
PRIMARY_DISABLED_BACKGROUND = "#d0d7de"
PRIMARY_DISABLED_TEXT = "#424a53"
PRIMARY_STYLE = (
    f"QPushButton {{ background: {PRIMARY_BACKGROUND}; color: {PRIMARY_TEXT}; "
    "font-weight: 600; border: 1px solid #0550ae; border-radius: 4px; padding: 5px 14px; }"
    f"QPushButton:disabled {{ background: {PRIMARY_DISABLED_BACKGROUND}; "
    f"color: {PRIMARY_DISABLED_TEXT}; border-color: #afb8c1; }}"
)
STEP_LIST_WIDTH = 170


def launch_text(wizard: Wizard) -> str:
    """The Launch button's text: with the estimated cost (training and the after-training
    steps) once the plan is known."""
    estimate = estimate_job(wizard.state)
    return f"Launch — about ${estimate.cost:,.2f}" if estimate is not None else "Launch"


class WizardPanel(QWidget):
    """Steps over one core.wizard.Wizard; `launched` carries the new job's id."""

    launched = Signal(str)

    def __init__(
        self,
        connector: JobSubmitter,
        reporter: ErrorReporter,
        parent: QWidget | None = None,
        draft: Mapping[str, Any] | None = None,
        model_shapes: ModelShapes | None = None,
    ) -> None:
        super().__init__(parent)
        self.connector = connector
        self.reporter = reporter
        self.pricing_of = pricing_by_terms(BillingTerms.from_json(load_json("billing.json")))
        self.wizard = add_after_step(Wizard(draft, pricing_of=self.pricing_of))
        self.launching = False
        self.visited = {0}
        # The steps in order: core.wizard's, with the After training step before the review.
        self.steps: tuple[Step, ...] = self.wizard.steps
        step = {s.key: s for s in self.steps}

        self.step_list = QListWidget(self)
        self.step_list.setMaximumWidth(STEP_LIST_WIDTH)
        for i, each in enumerate(self.steps, 1):
            self.step_list.addItem(f"{i}. {each.title}")
        pages: dict[str, StepPage] = {
            "model": ModelPage(step["model"], self.wizard, reporter, shapes=model_shapes),
            "dataset": DatasetPage(step["dataset"], self.wizard, reporter),
            "method": MethodPage(step["method"], self.wizard),
            "hyperparameters": HyperPage(step["hyperparameters"], self.wizard),
            "compute": ComputePage(step["compute"], self.wizard),
            "limits": LimitsPage(step["limits"], self.wizard),
            "after": AfterPage(step["after"], self.wizard),
            "review": ReviewPage(step["review"], self.wizard),
        }
        self.pages: list[StepPage] = [pages[s.key] for s in self.steps]
        self.stack = QStackedWidget(self)
        for page in self.pages:
            scroll = QScrollArea(self.stack)
            scroll.setWidgetResizable(True)
            scroll.setWidget(page)
            self.stack.addWidget(scroll)
            page.finish_layout()
            page.edited.connect(self.revalidate)
        self.method_page.preset_applied.connect(lambda _k: self.hyper_page.load())

        self.save_button = QPushButton("Save config…", self)
        self.load_button = QPushButton("Load config…", self)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.back_button = QPushButton("Back", self)
        self.next_button = QPushButton("Next", self)
        self.next_button.setDefault(True)

        buttons = QHBoxLayout()
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.load_button)
        buttons.addWidget(self.status, 1)
        buttons.addWidget(self.back_button)
        buttons.addWidget(self.next_button)
        right = QVBoxLayout()
        right.addWidget(self.stack, 1)
        right.addLayout(buttons)
        layout = QHBoxLayout(self)
        layout.addWidget(self.step_list)
        layout.addLayout(right, 1)

        self.back_button.clicked.connect(self.go_back)
        self.next_button.clicked.connect(self._on_next)
        self.step_list.currentRowChanged.connect(self._on_step_clicked)
        self.save_button.clicked.connect(self.save_config)
        self.load_button.clicked.connect(self.load_config)
        for page in self.pages:
            page.load()
        self._show_current()

    # -- pages ----------------------------------------------------------------------------

    @property
    def page(self) -> StepPage:
        """The page on show."""
        return self.pages[self.wizard.index]

    def _page(self, key: str) -> StepPage:
        return self.pages[[s.key for s in self.steps].index(key)]

    @property
    def model_page(self) -> ModelPage:
        """Step 1."""
        page = self._page("model")
        assert isinstance(page, ModelPage)
        return page

    @property
    def dataset_page(self) -> DatasetPage:
        """Step 2."""
        page = self._page("dataset")
        assert isinstance(page, DatasetPage)
        return page

    @property
    def method_page(self) -> MethodPage:
        """Step 3."""
        page = self._page("method")
        assert isinstance(page, MethodPage)
        return page

    @property
    def hyper_page(self) -> StepPage:
        """Step 4."""
        return self._page("hyperparameters")

    @property
    def compute_page(self) -> ComputePage:
        """Step 5."""
        page = self._page("compute")
        assert isinstance(page, ComputePage)
        return page

    @property
    def limits_page(self) -> LimitsPage:
        """Step 6."""
        page = self._page("limits")
        assert isinstance(page, LimitsPage)
        return page

    @property
    def after_page(self) -> AfterPage:
        """Step 7."""
        page = self._page("after")
        assert isinstance(page, AfterPage)
        return page

    @property
    def review_page(self) -> ReviewPage:
        """Step 8."""
        page = self._page("review")
        assert isinstance(page, ReviewPage)
        return page

    def set_resources(self, resources: Sequence[Resource]) -> None:
        """The live catalog the compute step plans against."""
        self.wizard.set_catalog(resources, self.pricing_of)
        if self.page in (self.compute_page, self.after_page, self.review_page):
            self.page.load()  # their estimates follow the catalog's prices
        self.revalidate()

    def set_auto_terminate(self, on: bool) -> None:
        """What the review says happens when the job ends."""
        self.review_page.auto_terminate = on
        self.review_page.load()

    def set_draft(self, draft: Mapping[str, Any]) -> None:
        """Start over from these values (keeps the catalog)."""
        self._bind(Wizard(draft, resources=self.wizard.state.resources, pricing_of=self.pricing_of))

    def _bind(self, wizard: Wizard) -> None:
        self.wizard = add_after_step(wizard)
        self.visited = {0}
        for page in self.pages:
            page.bind(wizard)
        self._show_current()

    def _show_current(self) -> None:
        if self.wizard.index != 0:
            self.model_page.flush()  # the plan on the next pages follows the model's size
        self.visited.update(range(self.wizard.index + 1))
        self.stack.setCurrentIndex(self.wizard.index)
        self.page.enter()
        self.step_list.blockSignals(True)
        self.step_list.setCurrentRow(self.wizard.index)
        self.step_list.blockSignals(False)
        self.revalidate()

    def revalidate(self) -> None:
        """Show the current step's errors and enable Next only when it is valid."""
        page = self.page
        errors: list[FieldError] = self.wizard.errors()
        page.show_errors(errors)
        ok = self.wizard.can_advance() and page.input_ok
        last = self.wizard.is_last
        self.next_button.setText(launch_text(self.wizard) if last else "Next")
        self.next_button.setStyleSheet(PRIMARY_STYLE if last else "")
        self.next_button.setEnabled(ok and not self.launching)
        self.back_button.setEnabled(self.wizard.index > 0 and not self.launching)
        if self.launching:
            return
        if ok:
            warnings = [e for e in errors if e.warning]
            self.status.setText(warnings[0].message if warnings else "")
        else:
            self.status.setText("Fix the fields marked in red to continue.")
        self._mark_steps(ok)

    def _mark_steps(self, current_ok: bool) -> None:
        """✓ on steps done, ✗ (and the problems as a tooltip) on visited steps with errors."""
        for i, step in enumerate(self.steps):
            item = self.step_list.item(i)
            problems: list[str] = []
            if i == self.wizard.index:
                if not current_ok:
                    problems = [e.message for e in self.wizard.errors() if not e.warning]
                    problems = problems or ["A field's text cannot be read."]
            elif i in self.visited:
                problems = [e.message for e in self.wizard.errors(step.key) if not e.warning]
            done = not problems and (i < self.wizard.index or i == self.wizard.index)
            mark = "✗ " if problems else ("✓ " if done else "")
            item.setText(f"{mark}{i + 1}. {step.title}")
            item.setToolTip("\n".join(problems))
            if problems:
                item.setForeground(QBrush(QColor(ERROR_COLOUR)))
            else:
                item.setData(Qt.ItemDataRole.ForegroundRole, None)

    def go_next(self) -> bool:
        """Move to the next step if this one is valid."""
        if not self.page.input_ok or not self.wizard.next():
            return False
        self._show_current()
        return True

    def go_back(self) -> bool:
        """Move to the previous step."""
        if not self.wizard.back():
            return False
        self._show_current()
        return True

    def _on_next(self) -> None:
        if self.wizard.is_last:
            self.launch()
        else:
            self.go_next()

    def _on_step_clicked(self, row: int) -> None:
        if 0 <= row < len(self.steps) and row != self.wizard.index:
            if self.page.input_ok and self.wizard.go_to(self.steps[row].key):
                self._show_current()
            else:
                self.step_list.blockSignals(True)
                self.step_list.setCurrentRow(self.wizard.index)
                self.step_list.blockSignals(False)

    def _go_to_field(self, field: str) -> None:
        for i, step in enumerate(self.steps):
            if field in step.field_names:
                self.wizard.index = i
                self._show_current()
                return

    # -- launch, save, load -------------------------------------------------------------

    def _show_check_progress(self, done: int, total: int) -> None:
        """The whole dataset is read before a launch: say how far, for a big file."""
        if total >= 8 * 1024 * 1024:
            percent = 100 * done // max(1, total)
            self.status.setText(
                f"Checking the dataset: {percent}% of {total / 1024**2:,.0f} MiB read…"
            )
        if done >= total:
            self.status.setText("Launching: asking Lambda for the instance…")

    @reported_slot("Could not launch the job")
    async def launch(self) -> str | None:
        """Submit the job; returns its id once Lambda accepted the launch."""
        if self.launching:
            return None
        try:
            config = self.wizard.to_config()
        except ConfigError as exc:
            self._go_to_field(exc.field)
            raise
        self.launching = True
        self.status.setText("Launching: asking Lambda for the instance…")
        self.revalidate()
        try:
            job_id = await self.connector.submit_job(config, self._show_check_progress)
        except ConfigError as exc:
            self._go_to_field(exc.field)
            raise
        finally:
            self.launching = False
            self.revalidate()
        self.status.setText(f"Launched job {job_id}: follow it on the Jobs tab.")
        self.launched.emit(job_id)
        return job_id

    @reported_slot("Could not save the config")
    async def save_config(self) -> None:
        """Write the draft (valid or not) to a JSON file."""
        name = str(self.wizard.get("project_name") or "job") + ".json"
        path, _f = await run_modal(
            lambda: QFileDialog.getSaveFileName(
                self, "Save the job config", str(Path.home() / name), CONFIG_FILTER
            )
        )
        if not path:
            return
        # Secrets typed in the wizard go to the keyring; the file names them only.
        kept = await self.connector.keep_tracker_secrets(self.wizard.state.config())
        self.wizard.set("tracker_secrets", kept.tracker_secrets)
        text = self.wizard.to_json()
        await asyncio.to_thread(Path(path).write_text, text + "\n", "utf-8")
        self.page.load()
        self.status.setText(f"Saved to {path}")

    @reported_slot("Could not load the config")
    async def load_config(self) -> None:
        """Read a config saved here (or a job's config.json) into the wizard."""
        path, _f = await run_modal(
            lambda: QFileDialog.getOpenFileName(
                self, "Load a job config", str(Path.home()), CONFIG_FILTER
            )
        )
        if path:
            await self.load_config_file(Path(path))

    async def load_config_file(self, path: Path) -> None:
        """Read a config file into the wizard (ConfigError when it is not one)."""
        text = await asyncio.to_thread(path.read_text, "utf-8")
        wizard = Wizard.from_json(
            text,
            resources=self.wizard.state.resources,
            pricing_of=self.pricing_of,
            source=str(path),
        )
        self._bind(wizard)
        self.compute_page.type_chosen = True  # the file names its instance type
        self.status.setText(f"Loaded {path}")
