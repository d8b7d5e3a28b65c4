"""Step 5: the instance type and region, with the plan: memory need, fit, time and cost.

The recommended type (the cheapest that fits and has capacity now) is pre-selected until the
user picks one; the table of every type grows with its rows (the page scrolls, not the table),
and each type's capacity names its regions. Sharding (FSDP) shows as a check box only when the
job needs it (core.wizard.sharding_advice): on by default then, and the plans follow it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from lambda_gui.core.models import Resource
from lambda_gui.core.planner import Plan
from lambda_gui.core.wizard import ShardingAdvice, Step, Wizard
from lambda_gui.gui.wizard.field_editors import FieldEditor
from lambda_gui.gui.wizard.step_page import StepPage

PLAN_COLUMNS = (
    "Instance type",
    "GPU",
    "GiB need / usable",
    "Fits",
    "Time",
    "Est. cost",
    "Capacity now",
)
CAPACITY_COLUMN = PLAN_COLUMNS.index("Capacity now")
FITS = QColor(26, 127, 55)
NO_FIT = QColor(207, 34, 46)
CHOSEN = QColor(9, 105, 218, 40)
COMBO_MIN_CHARS = 24
SHARD_TEXT = "Shard the model over the GPUs (FSDP)"
TABLE_TEXT = "Every GPU type for this job, cheapest fitting first (double-click one to choose it):"
TABLE_TEXT_SHARDED = (
    "Every GPU type for this job, the multi-GPU ones sharded with FSDP (need per GPU), "
    "cheapest fitting first (double-click one to choose it):"
)
SHARD_EXPLAINED = (
    "Each GPU then holds a share of the model's weights instead of all of them, plus the "
    "layers it is computing; gathering those costs about a tenth of the speed."
)


def rough_duration(seconds: float) -> str:
    """An estimate's duration, no finer than it is known: "under a minute", "12 min",
    "2 h 05 min"."""
    if seconds < 60:
        return "under a minute"
    minutes = int(round(seconds / 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest:02d} min"


def capacity_text(r: Resource) -> str:
    """Where a type has capacity now, by region name."""
    return ", ".join(g.name for g in r.regions) if r.available and r.regions else "none now"


def resource_label(r: Resource) -> str:
    """One line about an instance type for the type chooser."""
    gpus = f"{r.gpu_count}× {r.gpu_type}" if r.gpu_count else "CPU only"
    where = capacity_text(r) if r.regions else "no capacity now"
    return f"{r.name} — {gpus} — ${r.hourly_rate:,.2f}/h — {where}"


def plan_summary(plan: Plan) -> str:
    """The plan for the chosen type, in a few sentences (rich text)."""
    fit = (
        f"<b style='color:{FITS.name()}'>fits</b> with {plan.headroom_gib:.1f} GiB to spare"
        if plan.fits
        else f"<b style='color:{NO_FIT.name()}'>does not fit</b>"
    )
    if plan.sharding == "fsdp":
        per = " per GPU (sharded with FSDP)"
    else:
        per = " per GPU (data-parallel)" if plan.data_parallel else ""
    text = (
        f"Needs about <b>{plan.need_gib:.1f} GiB</b> of GPU memory{per}; "
        f"{plan.resource_name} has {plan.usable_gib:.1f} GiB usable: {fit}.<br>"
        f"{plan.steps:,} steps, {rough_duration(plan.train_seconds)} of training plus about "
        f"{rough_duration(plan.overhead_seconds)} of boot, set-up and download: "
        f"<b>{rough_duration(plan.total_seconds)}</b> billed at ${plan.price_per_hour:,.2f}/h, "
        f"about <b>${plan.cost:,.2f}</b> in all."
    )
    if plan.notes:
        text += "<br>" + "<br>".join(plan.notes)
    return text


def sharding_reason(advice: ShardingAdvice, wizard: Wizard) -> str:
    """Why the check box is there: what the job does not fit, or what sharding saves."""
    best, plain = advice.best_sharded, advice.best_unsharded
    chosen = wizard.get("resource_id")
    does_not_fit = f"Unsharded, the job does not fit the GPUs of {chosen}. "
    if advice.for_chosen and (best is None or best.resource_name != chosen):
        why = does_not_fit
    elif advice.needed and best is not None:
        why = f"Sharded, it fits {best.resource_name} for about ${best.cost:,.2f}; unsharded, "
        if plain is None:
            why += "it fits no single GPU of the types with capacity now. "
        else:
            why += (
                f"the cheapest type that holds it is {plain.resource_name}, about "
                f"${plain.cost:,.2f}. "
            )
    elif advice.for_chosen:
        why = does_not_fit
    else:
        why = ""
    return why + SHARD_EXPLAINED


def _compact_combo(combo: QComboBox) -> None:
    """A combo that fits a narrow window: its own width modest, its list as wide as needed."""
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(COMBO_MIN_CHARS)
    combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)


class ComputePage(StepPage):
    """Type and region choosers, the chosen type's plan, and every type's plan in a table."""

    def __init__(self, step: Step, wizard: Wizard, parent: QWidget | None = None) -> None:
        super().__init__(step, wizard, parent)
        self.set_intro(
            "Estimates are rough (within about a factor of two): memory from the model size, "
            "method and batch; time from the GPU's throughput. Lambda bills from launch until "
            "the instance is terminated."
        )
        # False until the user picks a type here (or loads a config that names one): until
        # then the recommended type is chosen for them, and follows the plan.
        self.type_chosen = False
        for editor in (self.type_editor, self.region_editor):
            combo = editor.widget
            assert isinstance(combo, QComboBox)
            _compact_combo(combo)
        self.type_editor.changed.connect(self._on_user_choice)
        self.shard_box = QCheckBox(SHARD_TEXT, self)
        self.shard_box.setObjectName("field_sharding")
        self.shard_box.toggled.connect(self._on_shard_toggled)
        self.shard_note = QLabel(self)
        self.shard_note.setWordWrap(True)
        self.shard_row = QWidget(self)
        column = QVBoxLayout(self.shard_row)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(self.shard_box)
        column.addWidget(self.shard_note)
        shard_error = QLabel(self.shard_row)
        shard_error.setWordWrap(True)
        shard_error.setObjectName("error_sharding")
        shard_error.hide()
        column.addWidget(shard_error)
        self.error_labels["sharding"] = shard_error
        self.form.addRow("Sharding", self.shard_row)
        self.form.setRowVisible(self.shard_row, False)
        self.recommend_button = QPushButton("Use the recommended type", self)
        self.recommend_label = QLabel(self)
        self.recommend_label.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.recommend_label, 1)
        row.addWidget(self.recommend_button)
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.plans_table = QTableWidget(self)
        self.plans_table.setColumnCount(len(PLAN_COLUMNS))
        self.plans_table.setHorizontalHeaderLabels(list(PLAN_COLUMNS))
        self.plans_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.plans_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.plans_table.setWordWrap(True)
        self.plans_table.verticalHeader().hide()
        self.plans_table.verticalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        # The page scrolls; the table shows every row at its full height (no second bar).
        self.plans_table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.plans_table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.plans_table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        header = self.plans_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(CAPACITY_COLUMN, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(36)
        self.body.addWidget(self.summary)
        self.body.addLayout(row)
        self.table_label = QLabel(TABLE_TEXT, self)
        self.table_label.setWordWrap(True)
        self.body.addWidget(self.table_label)
        self.body.addWidget(self.plans_table)
        self.body.addStretch(1)
        self.recommend_button.clicked.connect(self.use_recommended)
        self.plans_table.cellDoubleClicked.connect(self._on_plan_clicked)
        self._plan_names: list[str] = []

    def custom_fields(self) -> frozenset[str]:
        return frozenset({"sharding"})

    @property
    def type_editor(self) -> FieldEditor:
        """The instance type chooser."""
        return self.editors["resource_id"]

    @property
    def region_editor(self) -> FieldEditor:
        """The region chooser."""
        return self.editors["region"]

    def bind(self, wizard: Wizard) -> None:
        self.type_chosen = False
        super().bind(wizard)

    def load(self) -> None:
        self._fill_types()
        super().load()
        self._fill_regions()
        self._show_plans()

    def enter(self) -> None:
        if not self.type_chosen:
            self._preselect()
        self.load()

    def _preselect(self) -> None:
        """Choose the recommended type while the user has not chosen one."""
        best = self.wizard.recommended()
        if best is not None and best.name != self.wizard.get("resource_id"):
            self.wizard.set("resource_id", best.name)
            region = self.wizard.get("region")
            if region and region not in {g.name for g in best.regions}:
                self.wizard.set("region", None)

    def _on_user_choice(self) -> None:
        self.type_chosen = True

    def after_edit(self, name: str) -> None:
        if name == "resource_id":
            self._fill_regions()
            region = self.wizard.get("region")
            if region and region not in self._regions_of_current():
                self.wizard.set("region", None)
        self._show_plans()

    def _on_shard_toggled(self, on: bool) -> None:
        """The user's choice: it stands from now on; an unchosen type follows the plan."""
        self.wizard.set("sharding", "fsdp" if on else "none")
        if not self.type_chosen:
            self._preselect()
            self.type_editor.set_value(self.wizard.get("resource_id"))
            self._fill_regions()
        self._show_plans()
        self.edited.emit()

    def _show_sharding(self) -> None:
        """The check box when the job needs it (or the draft asks for it), with why."""
        on = self.wizard.get("sharding") == "fsdp"
        self.table_label.setText(TABLE_TEXT_SHARDED if on else TABLE_TEXT)
        advice = self.wizard.sharding_advice()
        self.form.setRowVisible(self.shard_row, advice.offered)
        self.shard_box.blockSignals(True)
        self.shard_box.setChecked(on)
        self.shard_box.blockSignals(False)
        self.shard_note.setText(sharding_reason(advice, self.wizard))

    def use_recommended(self) -> None:
        """Choose the cheapest type that fits and has capacity now."""
        best = self.wizard.recommended()
        if best is None:
            return
        self.choose(best.name)

    def choose(self, name: str) -> None:
        """Set the instance type (and reset a region it does not have)."""
        self.type_chosen = True
        self.wizard.set("resource_id", name)
        self.type_editor.set_value(name)
        self.after_edit("resource_id")
        self.region_editor.set_value(self.wizard.get("region"))
        self.edited.emit()

    def _on_plan_clicked(self, row: int, _column: int) -> None:
        if 0 <= row < len(self._plan_names):
            self.choose(self._plan_names[row])

    def _gpu_types(self) -> list[Resource]:
        return sorted(
            (r for r in self.wizard.state.resources if r.gpu_count > 0),
            key=lambda r: (not r.available, r.hourly_rate, r.name),
        )

    def _fill_types(self) -> None:
        combo = self.type_editor.widget
        assert isinstance(combo, QComboBox)
        types = self._gpu_types()
        self.type_editor.set_choices(tuple(r.name for r in types))
        for i, r in enumerate(types):
            combo.setItemText(i, resource_label(r))
            combo.setItemData(i, resource_label(r), Qt.ItemDataRole.ToolTipRole)
        view = combo.view()
        view.setMinimumWidth(view.sizeHintForColumn(0) + 24)

    def _regions_of_current(self) -> list[str]:
        name = self.wizard.get("resource_id")
        resource = next((r for r in self.wizard.state.resources if r.name == name), None)
        return [g.name for g in resource.regions] if resource else []

    def _fill_regions(self) -> None:
        combo = self.region_editor.widget
        assert isinstance(combo, QComboBox)
        regions = self._regions_of_current()
        self.region_editor.set_choices(("", *regions))
        combo.setItemText(0, "Any region with capacity")
        self.region_editor.set_value(self.wizard.get("region"))

    def _show_plans(self) -> None:
        self._show_sharding()
        best = self.wizard.recommended()
        self.recommend_button.setEnabled(
            best is not None and best.name != self.wizard.get("resource_id")
        )
        if not self.wizard.state.resources:
            self.recommend_label.setText("Instance types are not loaded yet (see the Catalog tab).")
        elif best is None:
            self.recommend_label.setText(
                "No type with capacity now fits this job as set up; see the table."
            )
        elif best.name == self.wizard.get("resource_id"):
            self.recommend_label.setText(
                f"<b>{best.name}</b> is the recommended type: the cheapest that fits and has "
                f"capacity now (in {capacity_text(best)})."
            )
        else:
            self.recommend_label.setText(
                f"Recommended: <b>{best.name}</b>, the cheapest type that fits and has capacity "
                f"now (in {capacity_text(best)})."
            )
        plan = self.wizard.plan()
        if plan is not None:
            self.summary.setText(plan_summary(plan))
        elif self.wizard.state.params_b is None:
            self.summary.setText("Enter the model's size on the first page to see the plan.")
        else:
            self.summary.setText("")
        self._fill_table(self.wizard.plans())

    def _fill_table(self, plans: list[Plan]) -> None:
        chosen = self.wizard.get("resource_id")
        by_name = {r.name: r for r in self.wizard.state.resources}
        self._plan_names = [p.resource_name for p in plans]
        table = self.plans_table
        table.setRowCount(len(plans))
        for i, p in enumerate(plans):
            resource = by_name.get(p.resource_name)
            cells = (
                p.resource_name,
                f"{p.gpu_count}× {p.gpu_name or '?'}",
                f"{p.need_gib:.1f} / {p.usable_gib:.1f}",
                "yes" if p.fits else "no",
                rough_duration(p.total_seconds),
                f"${p.cost:,.2f}",
                capacity_text(resource) if resource is not None else "?",
            )
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j == 3:
                    item.setForeground(QBrush(FITS if p.fits else NO_FIT))
                if p.resource_name == chosen:
                    item.setBackground(QBrush(CHOSEN))
                table.setItem(i, j, item)
        self._fit_table_height()

    def _fit_table_height(self) -> None:
        """Show every row: the table's height follows its rows (the page scrolls instead)."""
        table = self.plans_table
        table.resizeRowsToContents()
        height = table.horizontalHeader().height() + 2 * table.frameWidth()
        height += sum(table.rowHeight(i) for i in range(table.rowCount()))
        table.setFixedHeight(max(height, 60))

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        # Wrapped capacity cells change height with the width.
        self._fit_table_height()
