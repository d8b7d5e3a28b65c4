"""Step 7: after training — samples (on by default), merge and GGUF (opt-in), each with its
estimate in minutes, dollars and bytes on the chosen type (core.after_training_plan)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QWidget,
)

from lambda_gui.core.after_training_plan import (
    DEFAULT_SAMPLES,
    GGUF_KINDS,
    option_estimates,
    plan_after_training,
)
from lambda_gui.core.config_validation import MAX_SAMPLES
from lambda_gui.core.wizard import FieldError, Step, Wizard
from lambda_gui.gui.style import WARNING_STYLE
from lambda_gui.gui.wizard.after_step import chosen_text, estimate_text, sizing
from lambda_gui.gui.wizard.field_editors import FieldEditor, IntSpin, show_number
from lambda_gui.gui.wizard.step_page import StepPage, field_message

INTRO = (
    "Optional steps on the instance once training is done, before it is terminated. The "
    "instance bills while they run and while their files download: each shows its estimate "
    "on the chosen type. Samples are on by default (they cost seconds); merge and GGUF are "
    "opt-in. Push to Hub (the adapter or the merged model) is offered on the Jobs tab once "
    "the job completes."
)
PROMPTS_HINT = (
    "Empty: held-out validation rows, else the dataset's last rows.\n\n"
    "Or type your own prompts, one per block, with a blank line between them."
)
GGUF_TEXT = {"f16": "f16 (16-bit)", "q8_0": "q8_0 (8-bit, half the size)"}
GGUF_TIP = (
    "GGUF files for llama.cpp, Ollama and LM Studio, converted from the merged model by "
    "llama.cpp's converter (so the merge is turned on too), then downloaded."
)
MERGE_TEXT = "Merge the adapter into the base weights"
MERGE_TIP = (
    "The base model reloaded in 16 bit with the adapter merged into it: sharded safetensors "
    "with the tokenizer and config, downloaded after the adapter. Needed for GGUF."
)
MERGE_ON_NOTE = "Merge turned on: GGUF files are converted from the merged model."
GGUF_OFF_NOTE = "GGUF turned off: GGUF files are converted from the merged model."
NO_ESTIMATE = "estimate: choose the model and the instance type first"
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def split_prompts(text: str) -> list[str]:
    """Prompts typed one per block, blocks separated by a blank line."""
    blocks = (b.strip() for b in _BLANK_LINE.split(text.replace("\r\n", "\n")))
    return [b for b in blocks if b]


class SamplesEditor(FieldEditor):
    """`samples`: a switch and a count (1-20); off is 0. The count is kept while off."""

    def _make(self, parent: QWidget) -> QWidget:
        row = QWidget(parent)
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        self.switch = QCheckBox("Answer", row)
        self.switch.setObjectName("samples_on")
        self.count = IntSpin(row)
        self.count.setObjectName("samples_count")
        self.count.setRange(1, MAX_SAMPLES)
        self.count.setValue(DEFAULT_SAMPLES)
        self.count.setSuffix(" prompts")
        self.count.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.count.setMaximumWidth(140)
        tail = QLabel("by the base and the tuned model", row)
        row.setToolTip(
            "Each prompt is answered greedily by the base model and by the tuned one, so you "
            "can compare them on the Jobs tab."
        )
        line.addWidget(self.switch)
        line.addWidget(self.count)
        line.addWidget(tail, 1)
        self.switch.toggled.connect(self._on_switch)
        self.count.valueChanged.connect(lambda _v: self.changed.emit())
        return row

    def _on_switch(self, on: bool) -> None:
        self.count.setEnabled(on)
        self.changed.emit()

    def value(self) -> Any:
        return self.count.value() if self.switch.isChecked() else 0

    def set_value(self, value: Any) -> None:
        number = value if isinstance(value, int) and not isinstance(value, bool) else 0
        for widget in (self.switch, self.count):
            widget.blockSignals(True)
        try:
            self.switch.setChecked(number != 0)
            if number != 0:
                show_number(self.count, number)
            self.count.setEnabled(number != 0)
        finally:
            for widget in (self.switch, self.count):
                widget.blockSignals(False)


class PromptsEditor(FieldEditor):
    """`sample_prompts`: a multi-line editor, one prompt per block."""

    def _make(self, parent: QWidget) -> QWidget:
        edit = QPlainTextEdit(parent)
        edit.setPlaceholderText(PROMPTS_HINT)
        edit.setTabChangesFocus(True)
        edit.setFixedHeight(110)
        edit.textChanged.connect(self.changed.emit)
        return edit

    @property
    def edit(self) -> QPlainTextEdit:
        """The text editor."""
        assert isinstance(self.widget, QPlainTextEdit)
        return self.widget

    def value(self) -> Any:
        return split_prompts(self.edit.toPlainText())

    def set_value(self, value: Any) -> None:
        prompts = value if isinstance(value, list) else []
        text = "\n\n".join(str(p) for p in prompts)
        if split_prompts(self.edit.toPlainText()) == prompts:
            return  # the same prompts: leave the text (and the cursor) as typed
        self.edit.blockSignals(True)
        try:
            self.edit.setPlainText(text)
        finally:
            self.edit.blockSignals(False)


class GgufEditor(FieldEditor):
    """`gguf`: one box per type, each with its estimate beside it."""

    def _make(self, parent: QWidget) -> QWidget:
        holder = QWidget(parent)
        grid = QGridLayout(holder)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setColumnStretch(1, 1)
        self.boxes: dict[str, QCheckBox] = {}
        self.estimates: dict[str, QLabel] = {}
        for row, kind in enumerate(GGUF_KINDS):
            box = QCheckBox(GGUF_TEXT[kind], holder)
            box.setObjectName(f"gguf_{kind}")
            box.setToolTip(GGUF_TIP)
            box.toggled.connect(lambda _on: self.changed.emit())
            label = QLabel(holder)
            label.setObjectName(f"estimate_gguf_{kind}")
            label.setWordWrap(True)
            grid.addWidget(box, row, 0)
            grid.addWidget(label, row, 1)
            self.boxes[kind] = box
            self.estimates[kind] = label
        return holder

    def value(self) -> Any:
        return [kind for kind in GGUF_KINDS if self.boxes[kind].isChecked()]

    def set_value(self, value: Any) -> None:
        chosen = value if isinstance(value, list) else []
        for kind, box in self.boxes.items():
            box.blockSignals(True)
            try:
                box.setChecked(kind in chosen)
            finally:
                box.blockSignals(False)


class AfterPage(StepPage):
    """Samples, merge and GGUF, each with its estimate; their total below."""

    def __init__(self, step: Step, wizard: Wizard, parent: QWidget | None = None) -> None:
        super().__init__(step, wizard, parent)
        self.set_intro(INTRO)
        self.samples_estimate = self._estimate_label("estimate_samples")
        self.merge_estimate = self._estimate_label("estimate_merge")
        self.note = QLabel(self)
        self.note.setObjectName("after_note")
        self.note.setWordWrap(True)
        self.note.hide()
        self.limits_note = QLabel(self)
        self.limits_note.setObjectName("after_limits_note")
        self.limits_note.setWordWrap(True)
        self.limits_note.setStyleSheet(WARNING_STYLE)
        self.limits_note.hide()
        self.total = QLabel(self)
        self.total.setObjectName("after_total")
        self.total.setWordWrap(True)
        by_name = {spec.name: spec for spec in step.fields}
        self.samples_editor = SamplesEditor(by_name["samples"], self)
        self.add_editor(
            self.samples_editor, self._beside(self.samples_editor.widget, self.samples_estimate)
        )
        tokens = FieldEditor(by_name["sample_max_new_tokens"], self)
        self.add_editor(tokens)
        self.prompts_editor = PromptsEditor(by_name["sample_prompts"], self)
        self.add_editor(self.prompts_editor)
        self.merge_editor = FieldEditor(by_name["merge"], self)
        merge_box = self.merge_editor.widget
        assert isinstance(merge_box, QCheckBox)
        merge_box.setText(MERGE_TEXT)
        merge_box.setToolTip(MERGE_TIP)
        self.add_editor(self.merge_editor, self._beside(merge_box, self.merge_estimate))
        self.gguf_editor = GgufEditor(by_name["gguf"], self)
        self.add_editor(self.gguf_editor)
        self.body.addWidget(self.note)
        self.body.addWidget(self.limits_note)
        self.body.addWidget(self.total)
        self.body.addStretch(1)

    def custom_fields(self) -> frozenset[str]:
        return self.step.field_names

    def _estimate_label(self, name: str) -> QLabel:
        label = QLabel(self)
        label.setObjectName(name)
        label.setWordWrap(True)
        return label

    def _beside(self, widget: QWidget, label: QLabel) -> QWidget:
        row = QWidget(self)
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(widget)
        line.addWidget(label, 1)
        return row

    def load(self) -> None:
        super().load()
        self.note.hide()
        self._refresh()

    def enter(self) -> None:
        self.load()

    def after_edit(self, name: str) -> None:
        if name == "sample_prompts":
            self._count_follows_prompts()
        elif name == "gguf" and self.wizard.get("gguf") and self.wizard.get("merge") is not True:
            self._set("merge", True, self.merge_editor)
            self._say(MERGE_ON_NOTE)
        elif name == "merge" and self.wizard.get("merge") is not True and self.wizard.get("gguf"):
            self._set("gguf", [], self.gguf_editor)
            self._say(GGUF_OFF_NOTE)
        self._refresh()

    def _set(self, name: str, value: Any, editor: FieldEditor) -> None:
        self.wizard.set(name, value)
        editor.set_value(value)

    def _say(self, text: str) -> None:
        self.note.setText(text)
        self.note.show()

    def _count_follows_prompts(self) -> None:
        """Typed prompts set the count: each is answered (up to the most allowed)."""
        prompts = self.wizard.get("sample_prompts")
        samples = self.wizard.get("samples")
        if isinstance(prompts, list) and prompts and samples != 0:
            self._set("samples", min(len(prompts), MAX_SAMPLES), self.samples_editor)

    def _refresh(self) -> None:
        """Enable what depends on samples and on typed prompts; show every estimate."""
        samples_on = self.wizard.get("samples") != 0
        typed = bool(self.wizard.get("sample_prompts"))
        self.samples_editor.count.setEnabled(samples_on and not typed)
        self.samples_editor.count.setToolTip(
            "The count follows the prompts typed below." if typed else ""
        )
        self.editors["sample_max_new_tokens"].widget.setEnabled(samples_on)
        self.prompts_editor.widget.setEnabled(samples_on)
        self._show_estimates()

    def _show_estimates(self) -> None:
        found = sizing(self.wizard.state)
        labels = [self.samples_estimate, self.merge_estimate, *self.gguf_editor.estimates.values()]
        if found is None:
            for label in labels:
                label.setText(NO_ESTIMATE)
            self.total.setText("")
            return
        cfg = self.wizard.state.config()
        shown = self.samples_editor.count.value()
        options = option_estimates(found.job, found.machine, cfg, prompts_when_off=shown)
        self.samples_estimate.setText(estimate_text(options["samples"]))
        self.merge_estimate.setText(estimate_text(options["merge"]))
        for kind, label in self.gguf_editor.estimates.items():
            label.setText(estimate_text(options[f"gguf_{kind}"]))
        after = plan_after_training(found.job, found.machine, cfg)
        self.total.setText(f"<b>Chosen</b>: {chosen_text(after)}.")

    def show_errors(self, errors: Iterable[FieldError]) -> None:
        """Cap warnings (fields of the Limits step) go to their own note, in warning colour."""
        caps = ("budget_usd", "max_runtime_minutes")
        errors = list(errors)
        mine = [e for e in errors if not (e.warning and e.field in caps)]
        capped = [field_message(e) for e in errors if e.warning and e.field in caps]
        super().show_errors(mine)
        self.limits_note.setText("\n".join(capped))
        self.limits_note.setVisible(bool(capped))
