"""The app's settings, typed, in one place: stored as text rows of the job store, read and
written only here (no "1"/"0" strings elsewhere)."""

from __future__ import annotations

from dataclasses import dataclass

from lambda_gui.services.store import JobStore

_AUTO_TERMINATE = "auto_terminate"
_AUTO_TERMINATE_ORPHANS = "auto_terminate_orphans"
_GLOBAL_BUDGET = "global_budget_usd"
_DEFAULT_REGION = "default_region"


@dataclass(frozen=True)
class AppSettings:
    """Every setting with its default."""

    # Terminate a finished job's instance once its adapter is saved.
    auto_terminate: bool = True
    # Terminate lambda-gui instances no job here owns without asking.
    auto_terminate_orphans: bool = False
    # Stop every running job once their costs add up to this (None: no cap).
    global_budget_usd: float | None = None
    # Region picked when a job names none ("" : the first with capacity).
    default_region: str = ""


class Settings:
    """Typed access to the stored settings."""

    def __init__(self, store: JobStore) -> None:
        self._store = store

    async def load(self) -> AppSettings:
        """Every setting (defaults for those never saved or unreadable)."""
        get = self._store.get_setting
        return AppSettings(
            auto_terminate=await get(_AUTO_TERMINATE, "1") != "0",
            auto_terminate_orphans=await get(_AUTO_TERMINATE_ORPHANS, "0") == "1",
            global_budget_usd=_positive_float(await get(_GLOBAL_BUDGET, "")),
            default_region=await get(_DEFAULT_REGION, "") or "",
        )

    async def save(self, settings: AppSettings) -> None:
        """Store every setting."""
        put = self._store.set_setting
        await put(_AUTO_TERMINATE, "1" if settings.auto_terminate else "0")
        await put(_AUTO_TERMINATE_ORPHANS, "1" if settings.auto_terminate_orphans else "0")
        budget = settings.global_budget_usd
        await put(_GLOBAL_BUDGET, repr(float(budget)) if budget else "")
        await put(_DEFAULT_REGION, settings.default_region)

    async def update(self, **changes: object) -> AppSettings:
        """Change some settings, keep the rest; returns the result."""
        current = await self.load()
        new = AppSettings(**{**current.__dict__, **changes})
        await self.save(new)
        return new


def _positive_float(text: str | None) -> float | None:
    try:
        value = float(text or "")
    except ValueError:
        return None
    return value if value > 0 else None
