"""Step 1: the base model, a Hub id or a local folder."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QWidget

from lambda_gui.core.wizard import FieldError, Step, Wizard
from lambda_gui.gui.async_slots import reported_slot, run_modal
from lambda_gui.gui.error_report import ErrorReporter
from lambda_gui.gui.wizard.field_editors import FieldEditor
from lambda_gui.gui.wizard.step_page import StepPage
from lambda_gui.services.local_model import model_folder_problem

CHECK_DELAY_MS = 400


class ModelPage(StepPage):
    """Model source, model id or folder (with a folder picker), and its size."""

    def __init__(
        self, step: Step, wizard: Wizard, reporter: ErrorReporter, parent: QWidget | None = None
    ) -> None:
        super().__init__(step, wizard, parent)
        self.reporter = reporter
        self.set_intro(
            "The model to fine-tune: a Hugging Face Hub id (downloaded on the instance) or a "
            "folder on this computer written by save_pretrained (uploaded with the job)."
        )
        self.folder_problem: str | None = None
        self.checks = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(CHECK_DELAY_MS)
        self._timer.timeout.connect(self.check_folder)
        self.size_label = QLabel(self)
        self.size_label.setWordWrap(True)
        self.body.insertWidget(3, self.size_label)

    def custom_fields(self) -> frozenset[str]:
        return frozenset({"base_model"})

    def _build_model_row(self) -> None:
        spec = next(s for s in self.step.fields if s.name == "base_model")
        editor = FieldEditor(spec, self)
        row = QWidget(self)
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(editor.widget, 1)
        self.browse_button = QPushButton("Choose folder…", row)
        line.addWidget(self.browse_button)
        self.browse_button.clicked.connect(self.choose_folder)
        self.add_editor(editor, row)

    def add_editor(self, editor: FieldEditor, row_widget: QWidget | None = None) -> None:
        super().add_editor(editor, row_widget)
        if editor.name == "model_source":
            self._build_model_row()

    def load(self) -> None:
        super().load()
        self._update_hints()
        self._timer.start()

    def after_edit(self, name: str) -> None:
        self._update_hints()
        if name in ("model_source", "base_model"):
            self.folder_problem = None
            self._timer.start()

    @property
    def input_ok(self) -> bool:
        return super().input_ok and self.folder_problem is None

    def show_errors(self, errors: Iterable[FieldError]) -> None:
        found = list(errors)
        if self.folder_problem:
            found.append(FieldError("base_model", self.folder_problem))
        super().show_errors(found)

    @reported_slot("Could not check the model folder")
    async def check_folder(self) -> None:
        """For a local model: is it a save_pretrained folder? (Read in an executor.)"""
        self._timer.stop()
        path = str(self.wizard.get("base_model") or "").strip()
        if self.wizard.get("model_source") != "local" or not path:
            problem = None
        else:
            problem = await model_folder_problem(path)
            if str(self.wizard.get("base_model") or "").strip() != path:
                return  # typed on meanwhile; the timer checks again
        self.folder_problem = problem
        self.checks += 1
        self.edited.emit()

    def _update_hints(self) -> None:
        local = self.wizard.get("model_source") == "local"
        self.browse_button.setVisible(local)
        size = self.wizard.state.params_b
        model = str(self.wizard.get("base_model") or "").strip()
        if not model:
            self.size_label.setText("")
        elif size is not None and not self.wizard.get("params_b"):
            self.size_label.setText(f"Size: about {size:g} billion parameters (from its name).")
        elif size is not None:
            self.size_label.setText(f"Size: {size:g} billion parameters (as entered).")
        else:
            self.size_label.setText("")

    @reported_slot("Could not choose the model folder")
    async def choose_folder(self) -> None:
        """Pick a local model folder."""
        folder = await run_modal(
            lambda: QFileDialog.getExistingDirectory(self, "Choose the model folder")
        )
        if folder:
            editor = self.editors["base_model"]
            editor.set_value(folder)
            self.wizard.set("base_model", folder)
            self._update_hints()
            await self.check_folder()
