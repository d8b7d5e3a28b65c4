"""A job's lifecycle as data: its phase, its billing state, and the only moves allowed between
them, each with the reason it needs (docs/architecture.md draws this table).

Pure: no I/O. services/lifecycle.py is the one writer that applies a move, persists it and
publishes it; everything else asks it to.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

from lambda_gui.core.errors import LambdaGUIError
from lambda_gui.core.models import JobPhase

Phase = JobPhase
_E = TypeVar("_E", bound=Enum)


class Billing(Enum):
    """Whether the job's instance may be costing money, as far as Lambda confirmed it."""

    NONE = "none"  # nothing was asked of Lambda (or Lambda confirmed nothing was created)
    LAUNCHING = "launching"  # the launch intent is recorded; the request may be in flight
    MAY_BILL = "may_bill"  # the launch's outcome is unknown: an instance may exist
    BILLING = "billing"  # an instance of this job exists and bills
    TERMINATING = "terminating"  # terminate was asked; Lambda has not confirmed it yet
    TERMINATED = "terminated"  # Lambda confirmed the instance terminating or gone
    UNKNOWN = "unknown"  # the app lost track (a store row rebuilt or unreadable)

    @property
    def may_bill(self) -> bool:
        """True while an instance of the job may be costing money."""
        return self not in (Billing.NONE, Billing.TERMINATED)

    @property
    def label(self) -> str:
        """A few words for the user."""
        return _BILLING_LABELS[self]


_BILLING_LABELS = {
    Billing.NONE: "not billing (no instance)",
    Billing.LAUNCHING: "launching: an instance may start billing",
    Billing.MAY_BILL: "may be billing: Lambda's answer to the launch was lost",
    Billing.BILLING: "billing per minute",
    Billing.TERMINATING: "may still be billing: Lambda has not confirmed the terminate",
    Billing.TERMINATED: "terminated (confirmed by Lambda): no longer billing",
    Billing.UNKNOWN: "may be billing: the app lost track of this instance",
}


class Reason(Enum):
    """Why a job moves; every move in the tables names the reasons that justify it."""

    CONNECTION_BACK = "Lambda answers again: the queued job launches"
    LAUNCH_RECORDED = "the launch intent was recorded before the request left"
    LAUNCH_ACCEPTED = "Lambda accepted the launch and returned the instance id"
    LAUNCH_NOT_SENT = "Lambda could not be reached: the launch request never left"
    LAUNCH_RATE_LIMITED = "Lambda answered the launch with 429: nothing was created"
    LAUNCH_REFUSED = "Lambda refused the launch: nothing was created"
    LAUNCH_OUTCOME_UNKNOWN = "the launch reply was lost: an instance may exist"
    INSTANCE_FOUND = "Lambda lists an instance carrying the job's tag or name"
    INSTANCE_NOT_FOUND = "Lambda lists no instance carrying the job's tag or name"
    INSTANCE_BOOTING = "Lambda reports the instance booting"
    INSTANCE_ACTIVE = "Lambda reports the instance active with an address"
    INSTANCE_FAILED = "the instance never became usable (deadline, unhealthy, preempted)"
    INSTANCE_GONE = "Lambda reports the instance terminated, preempted or no longer listed"
    JOB_ERROR = "the job could not go on (SSH, set-up or a local error)"
    TRAINING_STARTED = "the training process was started on the instance"
    AFTER_TRAINING_STEP = "training is over; the instance generates samples or exports"
    TRAINING_FINISHED = "training (and what follows it on the instance) exited with status 0"
    TRAINING_FAILED = "training exited with an error or disappeared"
    DOWNLOAD_FAILED = "the adapter download failed: the instance is kept"
    DOWNLOAD_VERIFIED = "the adapter is here and matches the instance's sha256"
    USER_CANCELLED = "the user cancelled the job"
    LIMIT_REACHED = "a run-time, budget or divergence limit stopped the job"
    TERMINATE_REQUESTED = "the app asked Lambda to terminate the instance"
    TERMINATE_CONFIRMED = "Lambda confirmed the instance terminating or gone"
    RECOVERED = "the job was rebuilt from Lambda's instances after the store was lost"


@dataclass(frozen=True)
class JobState:
    """The two axes of a job's state."""

    phase: Phase
    billing: Billing


class IllegalTransitionError(LambdaGUIError, RuntimeError):
    """A move the lifecycle table does not allow (a bug, never a user error)."""


_ACTIVE = (
    Phase.PROVISIONING,
    Phase.BOOTING,
    Phase.SETTING_UP,
    Phase.RUNNING,
    Phase.SAMPLING,
    Phase.EXPORTING,
    Phase.DOWNLOADING,
)
_NOT_TERMINAL = (Phase.QUEUED, Phase.PENDING, *_ACTIVE)
_STOPPED = frozenset({Reason.USER_CANCELLED, Reason.LIMIT_REACHED})
_BROKEN = frozenset(
    {
        Reason.INSTANCE_FAILED,
        Reason.INSTANCE_GONE,
        Reason.JOB_ERROR,
        Reason.TRAINING_FAILED,
    }
)


def _phase_moves() -> dict[tuple[Phase, Phase], frozenset[Reason]]:
    moves: dict[tuple[Phase, Phase], frozenset[Reason]] = {
        (Phase.QUEUED, Phase.PENDING): frozenset({Reason.CONNECTION_BACK}),
        (Phase.QUEUED, Phase.FAILED): frozenset({Reason.LAUNCH_REFUSED, Reason.JOB_ERROR}),
        (Phase.PENDING, Phase.QUEUED): frozenset(
            {Reason.LAUNCH_NOT_SENT, Reason.LAUNCH_RATE_LIMITED}
        ),
        (Phase.PENDING, Phase.PROVISIONING): frozenset(
            {Reason.LAUNCH_ACCEPTED, Reason.INSTANCE_FOUND}
        ),
        (Phase.PENDING, Phase.FAILED): frozenset(
            {
                Reason.LAUNCH_REFUSED,
                Reason.INSTANCE_NOT_FOUND,
                Reason.INSTANCE_GONE,
                Reason.JOB_ERROR,
            }
        ),
        (Phase.PROVISIONING, Phase.BOOTING): frozenset({Reason.INSTANCE_BOOTING}),
        (Phase.PROVISIONING, Phase.SETTING_UP): frozenset({Reason.INSTANCE_ACTIVE}),
        (Phase.BOOTING, Phase.SETTING_UP): frozenset({Reason.INSTANCE_ACTIVE}),
        (Phase.SETTING_UP, Phase.RUNNING): frozenset({Reason.TRAINING_STARTED}),
        # A restarted app can find training already over.
        (Phase.SETTING_UP, Phase.DOWNLOADING): frozenset({Reason.TRAINING_FINISHED}),
        (Phase.RUNNING, Phase.DOWNLOADING): frozenset({Reason.TRAINING_FINISHED}),
        # After training, on the instance: samples, then exports (each optional).
        (Phase.SETTING_UP, Phase.SAMPLING): frozenset({Reason.AFTER_TRAINING_STEP}),
        (Phase.SETTING_UP, Phase.EXPORTING): frozenset({Reason.AFTER_TRAINING_STEP}),
        (Phase.RUNNING, Phase.SAMPLING): frozenset({Reason.AFTER_TRAINING_STEP}),
        (Phase.RUNNING, Phase.EXPORTING): frozenset({Reason.AFTER_TRAINING_STEP}),
        (Phase.SAMPLING, Phase.EXPORTING): frozenset({Reason.AFTER_TRAINING_STEP}),
        (Phase.SAMPLING, Phase.DOWNLOADING): frozenset({Reason.TRAINING_FINISHED}),
        (Phase.EXPORTING, Phase.DOWNLOADING): frozenset({Reason.TRAINING_FINISHED}),
        (Phase.DOWNLOADING, Phase.COMPLETED): frozenset({Reason.DOWNLOAD_VERIFIED}),
    }
    for phase in _ACTIVE:
        moves[(phase, Phase.FAILED)] = _BROKEN
    for phase in _NOT_TERMINAL:
        moves[(phase, Phase.CANCELLED)] = _STOPPED
    return moves


PHASE_MOVES: dict[tuple[Phase, Phase], frozenset[Reason]] = _phase_moves()


def _billing_moves() -> dict[tuple[Billing, Billing], frozenset[Reason]]:
    moves: dict[tuple[Billing, Billing], frozenset[Reason]] = {
        (Billing.NONE, Billing.LAUNCHING): frozenset({Reason.LAUNCH_RECORDED}),
        (Billing.LAUNCHING, Billing.BILLING): frozenset(
            {Reason.LAUNCH_ACCEPTED, Reason.INSTANCE_FOUND}
        ),
        (Billing.LAUNCHING, Billing.NONE): frozenset(
            {
                Reason.LAUNCH_NOT_SENT,
                Reason.LAUNCH_RATE_LIMITED,
                Reason.LAUNCH_REFUSED,
                Reason.INSTANCE_NOT_FOUND,
            }
        ),
        (Billing.LAUNCHING, Billing.MAY_BILL): frozenset({Reason.LAUNCH_OUTCOME_UNKNOWN}),
        (Billing.BILLING, Billing.TERMINATING): frozenset({Reason.TERMINATE_REQUESTED}),
        (Billing.TERMINATING, Billing.TERMINATED): frozenset(
            {Reason.TERMINATE_CONFIRMED, Reason.INSTANCE_GONE}
        ),
        (Billing.BILLING, Billing.TERMINATED): frozenset({Reason.INSTANCE_GONE}),
    }
    # Not knowing whether an instance exists: Lambda's list (or a terminate) settles it.
    for unsure in (Billing.MAY_BILL, Billing.UNKNOWN):
        moves[(unsure, Billing.BILLING)] = frozenset({Reason.INSTANCE_FOUND, Reason.RECOVERED})
        moves[(unsure, Billing.NONE)] = frozenset({Reason.INSTANCE_NOT_FOUND})
        moves[(unsure, Billing.TERMINATING)] = frozenset({Reason.TERMINATE_REQUESTED})
        moves[(unsure, Billing.TERMINATED)] = frozenset({Reason.INSTANCE_GONE})
    moves[(Billing.LAUNCHING, Billing.TERMINATED)] = frozenset({Reason.INSTANCE_GONE})
    return moves


BILLING_MOVES: dict[tuple[Billing, Billing], frozenset[Reason]] = _billing_moves()

# Where a job starts: recorded as queued (Lambda unreachable) or about to launch.
INITIAL_STATES = frozenset(
    {JobState(Phase.QUEUED, Billing.NONE), JobState(Phase.PENDING, Billing.NONE)}
)


def transition(
    state: JobState,
    reason: Reason,
    *,
    phase: Phase | None = None,
    billing: Billing | None = None,
) -> JobState:
    """The state after a move, or IllegalTransitionError when the tables do not allow it.

    Staying where one is is always allowed on an axis (a new message, a retry); moving an axis
    needs a reason its table lists for that move."""
    new_phase = state.phase if phase is None else phase
    new_billing = state.billing if billing is None else billing
    if new_phase is not state.phase:
        _check(PHASE_MOVES, state.phase, new_phase, reason)
    if new_billing is not state.billing:
        _check(BILLING_MOVES, state.billing, new_billing, reason)
    return JobState(new_phase, new_billing)


def _check(table: dict[tuple[_E, _E], frozenset[Reason]], old: _E, new: _E, reason: Reason) -> None:
    allowed = table.get((old, new), frozenset())
    if reason not in allowed:
        why = ", ".join(sorted(r.name for r in allowed)) or "nothing"
        raise IllegalTransitionError(
            f"Illegal move {old.value} -> {new.value} for {reason.name}; allowed by: {why}."
        )


def parse_billing(text: str | None) -> Billing:
    """A stored billing value; anything unreadable counts as UNKNOWN (may bill)."""
    try:
        return Billing(text)
    except ValueError:
        return Billing.UNKNOWN
