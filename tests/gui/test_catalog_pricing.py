"""The Catalog and Pricing tabs against the simulator's live catalog."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QKeySequence

from lambda_gui.gui.main_window import MainWindow
from lambda_gui.gui.models.catalog_table import CAPACITY, NAME
from lambda_gui.gui.models.price_table import DATE, GPU, LAMBDA, SAVINGS
from lambda_gui.gui.panels import catalog_panel
from lambda_gui.gui.panels.pricing_panel import MODES
from tests.gui.helpers import wait_until


async def _sim_types(sim: Any) -> set[str]:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.get(
            sim.base_url + "/instance-types", headers={"Authorization": f"Bearer {sim.api_key}"}
        ) as reply:
            return set((await reply.json())["data"])


async def test_catalog_shows_the_simulators_types(window: MainWindow, sim: Any) -> None:
    panel = window.catalog
    names = {panel.model.resource(i).name for i in range(panel.model.rowCount())}
    assert names == await _sim_types(sim)
    assert re.fullmatch(r"Updated \d\d:\d\d:\d\d", panel.updated_label.text())
    assert not panel.busy.isVisible()
    # Capacity at a glance: the capacity column names the regions, or says there are none.
    a10 = next(
        i for i in range(panel.model.rowCount()) if panel.model.resource(i).name == "gpu_1x_a10"
    )
    assert panel.model.index(a10, CAPACITY).data().startswith("Yes: ")
    assert "us-east-1" in panel.model.index(a10, CAPACITY).data()
    assert "with capacity" in panel.summary.text() and "(green)" not in panel.summary.text()

    panel.filter_edit.setText("h100 sxm5")
    shown = {panel.proxy.index(r, NAME).data() for r in range(panel.proxy.rowCount())}
    assert shown and all("h100_sxm5" in n for n in shown)
    panel.filter_edit.clear()
    panel.only_available.setChecked(True)
    assert 0 < panel.proxy.rowCount() < panel.model.rowCount()
    assert all(
        panel.model.resource(panel.proxy.mapToSource(panel.proxy.index(r, 0)).row()).available
        for r in range(panel.proxy.rowCount())
    )


async def test_refresh_is_rate_limited_and_shows_progress(
    window: MainWindow, sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    panel = window.catalog
    monkeypatch.setattr(catalog_panel, "REFRESH_COOLDOWN_MS", 300)
    sim.set_capacity("gpu_8x_b200_sxm6", "australia-east-1", 0)
    panel._end_cooldown()  # the cool-down of the window's first load (5 s)
    before = len(sim.requests)
    panel.refresh_button.click()
    await asyncio.sleep(0)
    assert panel.loading and panel.busy.isVisibleTo(panel) and not panel.refresh_button.isEnabled()
    await wait_until(lambda: not panel.loading, 5, "the reply")
    # The button asks Lambda again, whatever the cache holds.
    assert len(sim.requests) == before + 1
    b200 = next(r for r in panel.resources if r.name == "gpu_8x_b200_sxm6")
    assert not b200.available
    # Still cooling down: the button stays disabled for a while after the reply.
    assert not panel.refresh_button.isEnabled()
    await wait_until(panel.refresh_button.isEnabled, 3, "the refresh button to come back")


async def test_pricing_compares_live_lambda_with_dated_others(window: MainWindow) -> None:
    pricing = window.pricing
    assert pricing.resources, "the catalog reached the pricing tab"
    rows = pricing.model.rowCount()
    assert rows > 5
    h100 = next(r for r in pricing.rows if r.gpu_model.startswith("H100") and r.lambda_best)
    live = next(r for r in pricing.resources if r.name == h100.lambda_best.instance_type)
    assert h100.lambda_price == pytest.approx(live.hourly_rate / live.gpu_count)
    # Every row shows its other provider's date; the selected row lists sources and dates.
    dates = [pricing.proxy.index(r, DATE).data() for r in range(rows)]
    assert any(d and d != "—" for d in dates)
    text = pricing.sources.toPlainText()
    assert "source" in text and "dated" in text and "live from Lambda's API" in text
    savings = {pricing.proxy.index(r, SAVINGS).data() for r in range(rows)}
    assert any("cheaper" in s for s in savings)
    assert any("dearer" in s or "x the price" in s for s in savings)
    assert not any("%" in s and "dearer" in s and int(s.split("%")[0]) >= 50 for s in savings)
    assert pricing.chart.bar_count > 0

    horizontal = Qt.Orientation.Horizontal
    assert "GPU-hour" in pricing.model.headerData(2, horizontal)
    pricing.mode.setCurrentIndex(next(i for i, (_l, n) in enumerate(MODES) if n == 8))
    assert "$ / hour" in pricing.model.headerData(2, horizontal)
    assert all(r.lambda_best is None or r.lambda_best.gpu_count == 8 for r in pricing.rows)


def _catalog_row(panel: catalog_panel.CatalogPanel, name: str) -> int:
    return next(
        r for r in range(panel.proxy.rowCount()) if panel.proxy.index(r, NAME).data() == name
    )


async def test_a_catalog_row_starts_a_new_job_on_its_type(window: MainWindow) -> None:
    panel = window.catalog
    wizard = window.wizard
    assert not panel.new_job_button.isEnabled(), "nothing selected yet"
    # The row's context menu.
    row = _catalog_row(panel, "gpu_1x_a10")
    menu = panel.context_menu(panel.proxy.index(row, NAME))
    assert menu is not None and panel.new_job_action in menu.actions()
    assert panel.new_job_button.isEnabled()
    panel.new_job_action.trigger()
    assert window.tabs.currentWidget() is wizard
    assert wizard.wizard.get("resource_id") == "gpu_1x_a10"
    assert wizard.compute_page.type_editor.value() == "gpu_1x_a10"
    assert "gpu_1x_a10" in window.statusBar().currentMessage()
    assert panel.context_menu(panel.proxy.index(-1, 0)) is None

    # Double-click on another row (the view's signal: offscreen Qt sends no real clicks).
    window.tabs.setCurrentWidget(panel)
    panel.table.doubleClicked.emit(panel.proxy.index(_catalog_row(panel, "gpu_8x_h100_sxm5"), 1))
    assert window.tabs.currentWidget() is wizard
    assert wizard.wizard.get("resource_id") == "gpu_8x_h100_sxm5"

    # Enter on a selected row, and the button.
    window.tabs.setCurrentWidget(panel)
    panel.table.selectRow(_catalog_row(panel, "gpu_1x_a10"))
    panel.table.setFocus()
    enter = next(
        a for a in panel.table.actions() if QKeySequence(Qt.Key.Key_Return) in a.shortcuts()
    )
    enter.trigger()
    assert wizard.wizard.get("resource_id") == "gpu_1x_a10"
    window.tabs.setCurrentWidget(panel)
    panel.table.selectRow(_catalog_row(panel, "gpu_8x_h100_sxm5"))
    panel.new_job_button.click()
    assert window.tabs.currentWidget() is wizard
    assert wizard.wizard.get("resource_id") == "gpu_8x_h100_sxm5"


async def test_tab_mnemonics_and_ctrl_n(window: MainWindow) -> None:
    texts = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert texts == ["&Catalog", "&Pricing", "&New job", "&Jobs"]
    assert window.new_job_action.shortcut() == QKeySequence(QKeySequence.StandardKey.New)
    window.tabs.setCurrentWidget(window.jobs)
    window.new_job_action.trigger()
    assert window.tabs.currentWidget() is window.wizard
    assert window.new_job_action in window.menuBar().actions()[0].menu().actions()


async def test_pricing_leaves_stale_prices_out_and_says_how_old(window: MainWindow) -> None:
    pricing = window.pricing
    assert not pricing.include_stale.isChecked()
    assert all(not p.stale for r in pricing.rows for p in r.others)
    text = pricing.about.text()
    assert "on or after" in text and "old" in text and "likely out of date" in text
    pricing.include_stale.setChecked(True)
    assert any(p.stale for r in pricing.rows for p in r.others)


async def test_pricing_chart_follows_the_tables_order_and_selection(window: MainWindow) -> None:
    pricing = window.pricing

    def table_gpus() -> list[str]:
        return [pricing.proxy.index(r, GPU).data() for r in range(pricing.proxy.rowCount())]

    def charted_in_table_order() -> list[str]:
        charted = set(pricing.chart.categories)
        return [g for g in table_gpus() if g in charted]

    assert pricing.chart.categories == charted_in_table_order()
    pricing.table.sortByColumn(GPU, Qt.SortOrder.AscendingOrder)
    assert pricing.chart.categories == charted_in_table_order()
    assert pricing.chart.categories == sorted(pricing.chart.categories, key=str.lower)
    pricing.table.sortByColumn(LAMBDA, Qt.SortOrder.DescendingOrder)
    assert pricing.chart.categories == charted_in_table_order()

    # The selected row is marked in the chart.
    for row in (0, 3):
        pricing.table.selectRow(row)
        gpu = pricing.proxy.index(row, GPU).data()
        assert pricing.chart.selected is not None
        assert pricing.chart.categories[pricing.chart.selected] == gpu
    # A new mode keeps the two in step.
    pricing.mode.setCurrentIndex(1)
    assert pricing.chart.categories == charted_in_table_order()
    assert pricing.chart.categories[pricing.chart.selected or 0] == table_gpus()[0]


async def test_catalog_context_menu_opens_at_a_row(window: MainWindow) -> None:
    panel = window.catalog
    rect = panel.table.visualRect(panel.proxy.index(0, NAME))
    panel._context_menu(rect.center())
    menus = [m for m in panel.findChildren(catalog_panel.QMenu) if m.isVisible()]
    assert menus and panel.new_job_action in menus[0].actions()
    for menu in menus:
        menu.close()
    panel._context_menu(QPoint(rect.center().x(), panel.table.viewport().height() + 500))
