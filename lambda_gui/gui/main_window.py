"""The main window: assembles the tabs, the banners and the menus; owns the error display."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QLabel,
    QMainWindow,
    QVBoxLayout,
    QWidget,
)

from lambda_gui.core.errors import LambdaAPIError
from lambda_gui.core.models import Resource, TrainingConfig
from lambda_gui.gui.async_slots import cancel_slot_tasks, exec_dialog, reported_slot
from lambda_gui.gui.bridge import EventBridge
from lambda_gui.gui.error_report import ErrorReporter
from lambda_gui.gui.notifications import JobNotifier
from lambda_gui.gui.panels.catalog_panel import CatalogPanel
from lambda_gui.gui.panels.money_banners import BillingBanner, OrphanBanner
from lambda_gui.gui.style import DEMO_BANNER_STYLE, apply_accessible_palette
from lambda_gui.gui.widgets.lazy_tabs import LazyTabs
from lambda_gui.services.connector import DEFAULT_BASE_URL, LambdaLabsConnector
from lambda_gui.services.credentials import CredentialStore
from lambda_gui.services.events import BillingWarning, OrphansFound, TaskFailed

if TYPE_CHECKING:
    from lambda_gui.gui.dialogs.quit_prompt import QuitPrompt
    from lambda_gui.gui.dialogs.settings import SettingsDialog
    from lambda_gui.gui.panels.jobs_panel import JobsPanel
    from lambda_gui.gui.panels.pricing_panel import PricingPanel
    from lambda_gui.gui.wizard.wizard_panel import WizardPanel
    from lambda_gui.services.demo import DemoCloud

DEMO_BANNER = (
    "Demo mode: the Lambda Cloud here is simulated on this computer, and training runs on "
    "this computer's CPU with a tiny model. Nothing is billed; no account is needed."
)
# "&" marks each tab's mnemonic: Alt+C, Alt+P, Alt+N, Alt+J.
TAB_NAMES = ("&Catalog", "&Pricing", "&New job", "&Jobs")


class MainWindow(QMainWindow):
    """Catalog, Pricing, New job and Jobs tabs over one connector."""

    closed = Signal()

    def __init__(
        self,
        connector: LambdaLabsConnector,
        credentials: CredentialStore,
        *,
        demo: DemoCloud | None = None,
        dialogs: bool = True,
        base_url: str | None = None,
    ) -> None:
        super().__init__()
        apply_accessible_palette()
        self.connector = connector
        self.credentials = credentials
        self.demo = demo
        self.base_url = base_url
        self.connected = False
        self.quitting = False
        self.open_dialog: QDialog | None = None
        self.quit_prompt: QuitPrompt | None = None
        self.setWindowTitle("Lambda GUI" + (" — demo" if demo else ""))
        self.resize(1280, 820)

        self.reporter = ErrorReporter(self, dialogs=dialogs)
        self.reporter.set_status_bar(self.statusBar())
        self.bridge = EventBridge(self)
        self.bridge.attach(connector.events)

        # The first paint pays for the Catalog tab only: the other tabs (and pyqtgraph, the
        # wizard's planner, the job services' modules) are built when first shown or used.
        self._resources: list[Resource] | None = None
        self.catalog = CatalogPanel(connector, self.reporter)
        self.tabs = LazyTabs(self)
        self.tabs.addTab(self.catalog, TAB_NAMES[0])
        self._pricing_slot = self.tabs.add_lazy(self._build_pricing, TAB_NAMES[1])
        self._wizard_slot = self.tabs.add_lazy(self._build_wizard, TAB_NAMES[2])
        self._jobs_slot = self.tabs.add_lazy(self._build_jobs, TAB_NAMES[3])

        self.demo_banner = QLabel(DEMO_BANNER, self)
        self.demo_banner.setWordWrap(True)
        self.demo_banner.setStyleSheet(DEMO_BANNER_STYLE)
        self.demo_banner.setVisible(demo is not None)
        self.billing_banner = BillingBanner(connector, self.reporter, self)
        self.orphan_banner = OrphanBanner(connector, self.reporter, self)
        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.addWidget(self.demo_banner)
        layout.addWidget(self.billing_banner)
        layout.addWidget(self.orphan_banner)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)

        self.connection_label = QLabel("Not connected", self)
        self.statusBar().addPermanentWidget(self.connection_label)
        self._build_menus()

        self.catalog.resources_loaded.connect(self._on_resources)
        self.catalog.new_job_requested.connect(self.new_job_on)
        self.bridge.task_failed.connect(self._on_task_failed)
        self.bridge.billing_warning.connect(self._on_billing)
        self.bridge.phase_changed.connect(self.billing_banner.on_phase)
        self.bridge.orphans_found.connect(self._on_orphans)

        self.notifier = JobNotifier(connector, self.reporter, self.show_from_notice, self)
        self.bridge.phase_changed.connect(self.notifier.on_phase)
        self.bridge.billing_warning.connect(self.notifier.on_billing_warning)

    # -- tabs, built on first use --------------------------------------------------------

    @property
    def pricing(self) -> PricingPanel:
        """The Pricing tab."""
        return cast("PricingPanel", self._pricing_slot.widget)

    @property
    def wizard(self) -> WizardPanel:
        """The New job tab."""
        return cast("WizardPanel", self._wizard_slot.widget)

    @property
    def jobs(self) -> JobsPanel:
        """The Jobs tab."""
        return cast("JobsPanel", self._jobs_slot.widget)

    def _build_pricing(self, parent: QWidget) -> QWidget:
        from lambda_gui.gui.panels.pricing_panel import PricingPanel

        panel = PricingPanel(parent)
        if self._resources is not None:
            panel.set_resources(self._resources)
        return panel

    def _build_wizard(self, parent: QWidget) -> QWidget:
        from lambda_gui.gui.wizard.wizard_panel import WizardPanel
        from lambda_gui.services.demo import demo_draft

        demo = self.demo
        panel = WizardPanel(
            self.connector,
            self.reporter,
            draft=demo_draft(demo.model_dir) if demo else None,
            parent=parent,
        )
        panel.launched.connect(self.show_job)
        if self._resources is not None:
            panel.set_resources(self._resources)
        if self.connected:
            self._sync_auto_terminate(panel)
        return panel

    def _build_jobs(self, parent: QWidget) -> QWidget:
        from lambda_gui.gui.panels.jobs_panel import JobsPanel

        panel = JobsPanel(self.connector, self.reporter, self.bridge, parent)
        detail = panel.detail
        detail.clone_requested.connect(self.clone_job)
        detail.job_submitted.connect(self.show_job)
        detail.job_deleted.connect(self._on_job_deleted)
        return panel

    @reported_slot("Could not read the settings")
    async def _sync_auto_terminate(self, panel: WizardPanel) -> None:
        panel.set_auto_terminate(await self.connector.auto_terminate())

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.settings_action = QAction("&Settings…", self)
        self.settings_action.setShortcut(QKeySequence.StandardKey.Preferences)
        self.settings_action.triggered.connect(self.open_settings)
        save = QAction("Save job config…", self)
        save.triggered.connect(lambda: self.wizard.save_config())
        load = QAction("Load job config…", self)
        load.triggered.connect(lambda: self.wizard.load_config())
        reconnect = QAction("&Reconnect", self)
        reconnect.setToolTip("Connect to Lambda again with the saved API key")
        reconnect.triggered.connect(self.reconnect_now)
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        self.new_job_action = QAction("&New job", self)
        self.new_job_action.setShortcut(QKeySequence.StandardKey.New)
        self.new_job_action.setToolTip("Open the New job tab")
        self.new_job_action.triggered.connect(self.show_new_job)
        for action in (self.new_job_action, self.settings_action, reconnect, save, load):
            file_menu.addAction(action)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)

    # -- connection ---------------------------------------------------------------------

    async def connect_with(self, credentials: dict[str, str]) -> None:
        """Connect the connector (raises on a bad key or no network), then load everything."""
        self.connection_label.setText("Connecting…")
        try:
            await self.connector.connect(credentials)
        except BaseException:
            self.connected = False
            self.connection_label.setText("Not connected")
            raise
        self.connected = True
        self.connection_label.setText(self.where())
        await self.load_all()

    async def reconnect(self) -> None:
        """Connect again with the saved (or the demo's) credentials."""
        await self.connect_with(await self.saved_credentials())

    @reported_slot("Could not connect to Lambda Cloud")
    async def reconnect_now(self) -> None:
        """The Reconnect menu item."""
        await self.reconnect()

    async def saved_credentials(self) -> dict[str, str]:
        """The demo's credentials, or the API key and SSH key path from the keyring."""
        if self.demo is not None:
            return dict(self.demo.credentials)
        credentials = {"api_key": await self.credentials.api_key() or ""}
        if self.base_url:
            credentials["base_url"] = self.base_url
        key_path = await self.credentials.ssh_key_path()
        if key_path:
            credentials["ssh_key_path"] = key_path
        return credentials

    def where(self) -> str:
        """Which cloud the window is connected to, in words."""
        if self.demo is not None:
            return f"Simulated cloud at {self.connector.base_url.removesuffix('/api/v1')}"
        if self.connector.base_url == DEFAULT_BASE_URL:
            return "Connected to Lambda Cloud"
        return f"Connected to {self.connector.base_url}"

    async def load_all(self) -> None:
        """Fill every tab from the connector (errors go to the error display)."""
        await self.catalog.refresh(False)
        await self.jobs.reload()
        if self._wizard_slot.built:
            self.wizard.set_auto_terminate(await self.connector.auto_terminate())
        await self.billing_banner.refresh()
        await self.check_orphans()

    async def check_orphans(self) -> None:
        """Ask Lambda for orphaned instances now (the connector also sweeps every few minutes)."""
        try:
            orphans = await self.connector.find_orphans()
        except (LambdaAPIError, ConnectionError) as exc:
            # A failed list is not "no orphans": keep what is shown and say so.
            self.statusBar().showMessage(f"Could not check for orphaned instances: {exc}", 15_000)
            return
        self.orphan_banner.set_orphans(orphans)

    def _on_resources(self, resources: list[Resource]) -> None:
        self._resources = resources
        if self._pricing_slot.built:
            self.pricing.set_resources(resources)
        if self._wizard_slot.built:
            self.wizard.set_resources(resources)

    def show_new_job(self) -> None:
        """Switch to the New job tab (Ctrl+N)."""
        self.tabs.setCurrentWidget(self.wizard)

    def new_job_on(self, instance_type: str) -> None:
        """The New job tab with `instance_type` chosen (from a catalog row)."""
        compute = self.wizard.compute_page
        compute.load()  # its type list follows the latest catalog
        compute.choose(instance_type)
        self.show_new_job()
        step = compute.step.title
        self.statusBar().showMessage(
            f"New job: {instance_type} is chosen on the {step} step; start with the model.",
            10_000,
        )

    def show_job(self, job_id: str) -> None:
        """Switch to the Jobs tab with a job selected."""
        self.tabs.setCurrentWidget(self.jobs)
        if not self.jobs.select_job(job_id):
            self._reload_and_select(job_id)

    @reported_slot("Could not show the job", str)
    async def _reload_and_select(self, job_id: str) -> None:
        await self.jobs.reload()
        self.jobs.select_job(job_id)

    def clone_job(self, job_id: str, config: TrainingConfig) -> None:
        """The New job tab filled in with a job's config (its Clone… button)."""
        self.wizard.set_draft(config.to_dict())
        self.wizard.compute_page.type_chosen = True  # the config names its instance type
        self.wizard.status.setText(f"Cloned from job {job_id}: check the settings, then Launch.")
        self.show_new_job()

    @reported_slot("Could not list the jobs", str)
    async def _on_job_deleted(self, job_id: str) -> None:
        self.statusBar().showMessage(f"Deleted job {job_id} from this computer.", 10_000)
        await self.jobs.reload()

    def show_from_notice(self, job_id: str | None) -> None:
        """A notification was clicked: the window comes up with its job selected."""
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()
        if job_id is not None:
            self.show_job(job_id)
        else:
            self.tabs.setCurrentWidget(self.jobs)

    # -- settings -------------------------------------------------------------------------

    def settings_dialog(self) -> SettingsDialog:
        """A settings dialog over this window's connector and keyring."""
        from lambda_gui.gui.dialogs.settings import SettingsDialog

        regions = sorted({g.name for r in self.catalog.resources for g in r.regions})
        return SettingsDialog(
            self.connector,
            self.credentials,
            self.reconnect,
            self.reporter,
            regions=regions,
            demo=self.demo is not None,
            parent=self,
        )

    @reported_slot("Could not open the settings")
    async def open_settings(self) -> None:
        """Show the settings dialog and apply what it saved."""
        dialog = self.settings_dialog()
        self.open_dialog = dialog
        await dialog.prepare()
        await exec_dialog(dialog)
        if dialog.saved and self.connected and self._wizard_slot.built:
            self.wizard.set_auto_terminate(await self.connector.auto_terminate())
            await self.billing_banner.refresh()

    # -- events ---------------------------------------------------------------------------

    def _on_task_failed(self, event: TaskFailed) -> None:
        name = event.task_name
        title = (
            f"Job {name.split(':', 1)[1]} hit an error"
            if name.startswith("job:")
            else "A background task failed"
        )
        self.reporter.report(title, event.message)

    def _on_billing(self, event: BillingWarning) -> None:
        self.billing_banner.on_billing(event)
        if not event.resolved:
            self.statusBar().showMessage(event.message, 30_000)

    def _on_orphans(self, event: OrphansFound) -> None:
        self.orphan_banner.set_orphans(event.orphans)

    # -- closing --------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.quitting:
            self.notifier.close()
            event.accept()
            self.closed.emit()
            return
        event.ignore()
        self.request_quit()

    @reported_slot("Could not close cleanly")
    async def request_quit(self) -> None:
        """Quit; asks first when jobs are still running (their instances bill)."""
        running = []
        if self.connected:
            running = [j for j in await self.connector.list_jobs() if not j.phase.is_terminal]
        if running and self.demo is None:
            from lambda_gui.gui.dialogs.quit_prompt import QuitPrompt

            prompt = QuitPrompt(self, self.connector, self.reporter, running)
            self.quit_prompt = prompt
            self.open_dialog = prompt.box
            answer = await prompt.ask()
            if answer == "stop":
                if not await prompt.stop_all():
                    return
            elif answer != "keep":
                return
        self.quitting = True
        self.close()


async def close_and_disconnect(window: MainWindow | None, connector: LambdaLabsConnector) -> None:
    """The window's end as the app shuts down: its slot tasks cancelled, its event bridge
    detached, the window closed without the quit prompt, then the connector disconnected (jobs
    keep running on their instances)."""
    await cancel_slot_tasks()
    if window is not None:
        window.bridge.detach()
        window.quitting = True
        window.close()
    await connector.disconnect()
    if window is not None:
        window.deleteLater()
