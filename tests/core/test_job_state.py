"""The lifecycle tables: every move needs its reason, terminal phases stay terminal, billing is
`terminated` only for a reason that comes from Lambda."""

from __future__ import annotations

import pytest

from lambda_gui.core.job_state import (
    BILLING_MOVES,
    INITIAL_STATES,
    PHASE_MOVES,
    Billing,
    IllegalTransitionError,
    JobState,
    Phase,
    Reason,
    parse_billing,
    transition,
)

# Reasons that are Lambda's own word about an instance (a reply, a listing).
FROM_LAMBDA = {Reason.TERMINATE_CONFIRMED, Reason.INSTANCE_GONE}


def test_a_move_needs_a_reason_the_table_lists() -> None:
    start = JobState(Phase.PENDING, Billing.NONE)
    launching = transition(start, Reason.LAUNCH_RECORDED, billing=Billing.LAUNCHING)
    assert launching == JobState(Phase.PENDING, Billing.LAUNCHING)
    with pytest.raises(IllegalTransitionError, match="LAUNCH_ACCEPTED"):
        transition(launching, Reason.USER_CANCELLED, billing=Billing.BILLING)
    running = transition(
        launching, Reason.LAUNCH_ACCEPTED, phase=Phase.PROVISIONING, billing=Billing.BILLING
    )
    assert running == JobState(Phase.PROVISIONING, Billing.BILLING)


def test_staying_put_is_always_allowed() -> None:
    state = JobState(Phase.DOWNLOADING, Billing.BILLING)
    assert transition(state, Reason.DOWNLOAD_FAILED, phase=Phase.DOWNLOADING) == state


@pytest.mark.parametrize("phase", [p for p in Phase if p.is_terminal])
def test_terminal_phases_have_no_way_out(phase: Phase) -> None:
    assert not [k for k in PHASE_MOVES if k[0] is phase]
    for reason in Reason:
        for other in Phase:
            if other is not phase:
                with pytest.raises(IllegalTransitionError):
                    transition(JobState(phase, Billing.NONE), reason, phase=other)


def test_terminated_only_on_lambdas_word_and_never_left() -> None:
    for (old, new), reasons in BILLING_MOVES.items():
        if new is Billing.TERMINATED:
            assert reasons <= FROM_LAMBDA, (old, reasons)
        assert old is not Billing.TERMINATED, "terminated is final"


def test_nothing_billing_is_forgotten() -> None:
    # From a state that may bill, the only ways to "not billing" are Lambda's word or a
    # refusal that proves nothing was created.
    proofs = FROM_LAMBDA | {
        Reason.INSTANCE_NOT_FOUND,
        Reason.LAUNCH_NOT_SENT,
        Reason.LAUNCH_RATE_LIMITED,
        Reason.LAUNCH_REFUSED,
    }
    for (old, new), reasons in BILLING_MOVES.items():
        if old.may_bill and not new.may_bill:
            assert reasons <= proofs, (old, new, reasons)


def test_every_phase_is_reachable_from_the_start() -> None:
    seen = {s.phase for s in INITIAL_STATES}
    frontier = list(seen)
    while frontier:
        here = frontier.pop()
        for old, new in PHASE_MOVES:
            if old is here and new not in seen:
                seen.add(new)
                frontier.append(new)
    assert seen == set(Phase)


def test_an_unreadable_billing_value_may_bill() -> None:
    assert parse_billing("exploded") is Billing.UNKNOWN and Billing.UNKNOWN.may_bill
    assert parse_billing("terminated") is Billing.TERMINATED
    assert not Billing.NONE.may_bill and Billing.TERMINATING.may_bill
