"""The Catalog and Pricing tabs against the simulator's live catalog."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from PySide6.QtCore import Qt

from lambda_gui.gui.main_window import MainWindow
from lambda_gui.gui.models.catalog_table import CAPACITY, NAME
from lambda_gui.gui.models.price_table import DATE, SAVINGS
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
    assert "us-east-1" in panel.model.index(a10, CAPACITY).data()
    assert "with capacity" in panel.summary.text()

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
    assert any("cheaper" in s for s in savings) and any("dearer" in s for s in savings)
    assert pricing.chart.bar_count > 0

    horizontal = Qt.Orientation.Horizontal
    assert "GPU-hour" in pricing.model.headerData(2, horizontal)
    pricing.mode.setCurrentIndex(next(i for i, (_l, n) in enumerate(MODES) if n == 8))
    assert "$ / hour" in pricing.model.headerData(2, horizontal)
    assert all(r.lambda_best is None or r.lambda_best.gpu_count == 8 for r in pricing.rows)
