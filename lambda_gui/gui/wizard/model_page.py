"""Step 1: the base model, a Hub id or a local folder, and its size: read from its config.json
(the folder's, or the Hub's), else the known-models table or its name, or entered by the user;
the source is always shown."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QTimer
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QWidget

from lambda_gui.core.known_models import SIZE_SOURCE_TEXT, ModelShape
from lambda_gui.core.wizard import FieldError, Step, Wizard
from lambda_gui.gui.async_slots import reported_slot, run_modal
from lambda_gui.gui.error_report import ErrorReporter
from lambda_gui.gui.wizard.field_editors import FieldEditor
from lambda_gui.gui.wizard.step_page import StepPage
from lambda_gui.services.local_model import model_folder_problem
from lambda_gui.services.model_shape import ModelShapes

CHECK_DELAY_MS = 400


def format_params(params_b: float) -> str:
    """A parameter count in words: "8.03 billion", "494 million", "133,440"."""
    if params_b >= 1:
        return f"{params_b:.3g} billion"
    if params_b >= 0.001:
        return f"{params_b * 1000:.3g} million"
    return f"{params_b * 1e9:,.0f}"


def shape_text(shape: ModelShape) -> str:
    """Layers, hidden size and vocabulary, as the plan uses them."""
    return (
        f"{shape.num_layers} layers, hidden size {shape.hidden_size:,}, "
        f"vocabulary {shape.vocab_size:,}"
    )


def size_text(wizard: Wizard, looking: bool = False) -> str:
    """What the plan takes the model's size to be, and where that came from."""
    state = wizard.state
    size, source = state.params_b, state.size_source
    if size is None or source is None:
        if looking:
            return "Reading the model's config…"
        if not str(wizard.get("base_model") or "").strip():
            return ""
        return "Size not known: enter its parameter count below."
    where = SIZE_SOURCE_TEXT[source]
    shape = state.shape
    if source == "entered":
        inferred = state.inferred
        text = f"Size: {format_params(size)} parameters ({where})"
        if inferred is not None and inferred.shape.params_b != size:
            text += (
                f"; {SIZE_SOURCE_TEXT[inferred.source]} it would be "
                f"{format_params(inferred.shape.params_b)}. Clear the field to use that"
            )
        return text + "."
    about = "about " if source == "name" else ""
    text = f"Size: {about}{format_params(size)} parameters ({where})"
    if shape is not None:
        text += f"; {shape_text(shape)}"
    elif source == "name":
        text += "; layers and widths guessed from the size"
    return text + "." + (" Checking the Hub…" if looking else "")


class ModelPage(StepPage):
    """Model source, model id or folder (with a folder picker), and its size."""

    def __init__(
        self,
        step: Step,
        wizard: Wizard,
        reporter: ErrorReporter,
        parent: QWidget | None = None,
        shapes: ModelShapes | None = None,
    ) -> None:
        super().__init__(step, wizard, parent)
        self.reporter = reporter
        self.shapes = shapes if shapes is not None else ModelShapes.default()
        self.looking = False
        self.size_checks = 0
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
        # A check asked for while the page is hidden waits until it shows (or is flushed).
        self._pending = False
        self.size_label = QLabel(self)
        self.size_label.setObjectName("model_size")
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
        self._schedule()

    def _schedule(self) -> None:
        if self.isVisible():
            self._timer.start()
        else:
            self._pending = True

    def flush(self) -> None:
        """Run a pending check now (the wizard leaves this page)."""
        if self._timer.isActive() or self._pending:
            self._pending = False
            self._timer.stop()
            self.check_folder()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if self._pending:
            self._pending = False
            self._timer.start()

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802 (Qt's name)
        super().hideEvent(event)
        if self._timer.isActive():
            self._timer.stop()
            self._pending = True

    def after_edit(self, name: str) -> None:
        if name in ("model_source", "base_model"):
            # The wizard dropped a size entered for the previous model: show that.
            self.parse_errors.pop("params_b", None)
            self.editors["params_b"].set_value(self.wizard.get("params_b"))
            self.folder_problem = None
            self._schedule()
        self._update_hints()

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
        await self.read_size()

    async def read_size(self) -> None:
        """Read the model's size from its config.json (the folder's or the Hub's, cached),
        else the table; the plan follows it."""
        wizard = self.wizard
        model = str(wizard.get("base_model") or "").strip()
        local = wizard.get("model_source") == "local"
        known = wizard.state.model_shape
        if not model or (not local and known is not None and known.is_for(model, local)):
            return
        self.looking = True
        self._update_hints()
        try:
            found = await self.shapes.infer(model, local=local)
        finally:
            self.looking = False
        still = str(wizard.get("base_model") or "").strip() == model
        if (
            wizard is not self.wizard
            or not still
            or (wizard.get("model_source") == "local") != local
        ):
            self._update_hints()
            return  # changed meanwhile; the timer reads again
        wizard.set_model_shape(found)
        self.size_checks += 1
        self._update_hints()
        self.edited.emit()

    def _update_hints(self) -> None:
        local = self.wizard.get("model_source") == "local"
        self.browse_button.setVisible(local)
        self.size_label.setText(size_text(self.wizard, self.looking))

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
