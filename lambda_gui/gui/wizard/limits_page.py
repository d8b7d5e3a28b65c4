"""Step 6: limits and safety — run-time and budget caps (beside the plan's estimate), the
diverging-loss stop, and the self-termination opt-in with its risk in plain words."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from lambda_gui.core.wizard import Step, Wizard
from lambda_gui.gui.style import WARNING_STYLE
from lambda_gui.gui.wizard.compute_page import rough_duration
from lambda_gui.gui.wizard.field_editors import FieldEditor
from lambda_gui.gui.wizard.step_page import StepPage

SELF_TERMINATE_RISK = (
    "Risk: your Lambda API key is copied onto the instance so that it can terminate itself. "
    "Anyone with access to the instance can read it. Only use this with a key you can revoke "
    "(create a separate key for it in the Lambda dashboard, and delete it afterwards)."
)
SELF_TERMINATE_TEXT = "Let the instance terminate itself when this app goes silent"
SELF_TERMINATE_TIP = (
    "If this app stops answering (the computer sleeps, crashes or goes offline) for the grace "
    "period after the job ended or hit its run-time cap, the instance terminates itself "
    "through the Lambda API, so it does not bill on.\n\n" + SELF_TERMINATE_RISK
)
DIVERGENCE_TEXT = "Stop the job when the loss climbs far above its best"


class LimitsPage(StepPage):
    """Caps, the divergence stop and the self-termination opt-in."""

    def __init__(self, step: Step, wizard: Wizard, parent: QWidget | None = None) -> None:
        super().__init__(step, wizard, parent)
        self.set_intro(
            "Guards against a job billing longer than you meant. When a cap is reached the job "
            "is stopped: its log and last checkpoint are saved and the instance is terminated. "
            "Leave a cap empty for no limit."
        )
        self.runtime_estimate = QLabel(self)
        self.cost_estimate = QLabel(self)
        self.risk_label = QLabel(SELF_TERMINATE_RISK, self)
        self.risk_label.setWordWrap(True)
        self.risk_label.setStyleSheet(WARNING_STYLE)
        self.risk_label.setObjectName("self_terminate_risk")
        for spec in step.fields:
            editor = FieldEditor(spec, self)
            if spec.name == "max_runtime_minutes":
                self.add_editor(editor, self._beside(editor, self.runtime_estimate))
            elif spec.name == "budget_usd":
                self.add_editor(editor, self._beside(editor, self.cost_estimate))
            elif spec.name == "self_terminate":
                box = self._checkbox(editor, SELF_TERMINATE_TEXT)
                box.setToolTip(SELF_TERMINATE_TIP)
                holder = QWidget(self)
                column = QVBoxLayout(holder)
                column.setContentsMargins(0, 0, 0, 0)
                column.addWidget(box)
                column.addWidget(self.risk_label)
                self.add_editor(editor, holder)
            else:
                if spec.name == "stop_on_divergence":
                    self._checkbox(editor, DIVERGENCE_TEXT)
                else:
                    editor.widget.setMaximumWidth(160)
                self.add_editor(editor)
        self.body.addStretch(1)

    def custom_fields(self) -> frozenset[str]:
        return self.step.field_names

    def _beside(self, editor: FieldEditor, label: QLabel) -> QWidget:
        row = QWidget(self)
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        editor.widget.setMaximumWidth(160)
        layout.addWidget(editor.widget)
        layout.addWidget(label, 1)
        return row

    @staticmethod
    def _checkbox(editor: FieldEditor, text: str) -> QCheckBox:
        box = editor.widget
        assert isinstance(box, QCheckBox)
        box.setText(text)
        return box

    def load(self) -> None:
        super().load()
        self._refresh()

    def enter(self) -> None:
        self.load()

    def after_edit(self, name: str) -> None:
        self._refresh()

    def _refresh(self) -> None:
        """The plan's estimate beside the caps; dependent fields enabled with their switch."""
        plan = self.wizard.plan()
        if plan is None:
            self.runtime_estimate.setText("estimate: not known yet (choose the instance first)")
            self.cost_estimate.setText("estimate: not known yet (choose the instance first)")
        else:
            self.runtime_estimate.setText(
                f"estimated run time: about {rough_duration(plan.total_seconds)}"
            )
            self.cost_estimate.setText(
                f"estimated cost: about ${plan.cost:,.2f} on {plan.resource_name}"
            )
        self.editors["divergence_ratio"].widget.setEnabled(
            bool(self.wizard.get("stop_on_divergence"))
        )
        self.editors["self_terminate_grace_minutes"].widget.setEnabled(
            bool(self.wizard.get("self_terminate"))
        )
