"""Runs side by side without Qt: loss against step, tokens seen and dollars spent (measured or
estimated, and saying which), and the hyperparameter table's differences."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lambda_gui.core.models import TrainingConfig
from lambda_gui.core.run_compare import (
    COMPARED_FIELDS,
    DOLLARS,
    STEP,
    TOKENS,
    RunFacts,
    differing_fields,
    dollars_at,
    format_value,
    gpus_of,
    hyperparameter_table,
    interpolate,
    loss_points,
    run_curves,
    run_facts,
    tokens_per_step,
)

LAUNCH = 1_000_000.0


def _records(times: bool = True, tokens: bool = False) -> list[dict[str, Any]]:
    """Four train steps, an eval at step 2 and 4, and the trainer's closing summary, as
    train.py writes metrics.jsonl (wall-clock "time" on every record)."""
    records: list[dict[str, Any]] = []
    for step in (1, 2, 3, 4):
        record: dict[str, Any] = {
            "step": step,
            "epoch": step / 4,
            "max_steps": 4,
            "loss": 3.0 - 0.5 * step,
            "learning_rate": 2e-4,
        }
        if times:
            record["time"] = LAUNCH + 300.0 + 60.0 * step
        if tokens:
            record["num_tokens"] = 1000.0 * step
        records.append(record)
        if step % 2 == 0:
            evals: dict[str, Any] = {"step": step, "epoch": step / 4, "eval_loss": 2.9 - step / 2}
            if times:
                evals["time"] = LAUNCH + 310.0 + 60.0 * step
            records.append(evals)
    records.append({"step": 4, "epoch": 1.0, "train_runtime": 240.0, "train_loss": 1.75})
    return records


FACTS = RunFacts(
    price_cents_per_hour=129,
    tokens_per_step=4 * 2 * 512,
    billing_started_at=LAUNCH,
    active_at=LAUNCH + 200.0,
    ended_at=LAUNCH + 900.0,
)


def test_step_axis_keeps_train_and_eval_apart() -> None:
    curves = run_curves(_records(), STEP, FACTS, now=0.0)
    assert curves.train.x == (1.0, 2.0, 3.0, 4.0)
    assert curves.train.y == (2.5, 2.0, 1.5, 1.0)
    assert curves.eval.x == (2.0, 4.0) and curves.eval.y == pytest.approx((1.9, 0.9))
    assert curves.exact and curves.note == ""


def test_dollars_are_the_price_times_the_time_since_the_launch() -> None:
    curves = run_curves(_records(), DOLLARS, FACTS, now=0.0)
    expected = tuple((300.0 + 60.0 * s) * 1.29 / 3600 for s in (1, 2, 3, 4))
    assert curves.train.x == pytest.approx(expected)
    assert curves.eval.x == pytest.approx([(310.0 + 60.0 * s) * 1.29 / 3600 for s in (2, 4)])
    assert curves.exact and curves.note == ""
    assert dollars_at(LAUNCH + 3600.0, FACTS) == pytest.approx(1.29)
    assert dollars_at(LAUNCH - 5.0, FACTS) == 0.0  # a clock a little behind never goes negative


def test_dollars_without_logged_times_are_spread_over_the_run_and_say_so() -> None:
    curves = run_curves(_records(times=False), DOLLARS, FACTS, now=0.0)
    # Active at +200 s, ended at +900 s: step 4 of 4 at the end, step 1 a quarter of the way.
    expected = [(200.0 + 700.0 * s / 4) * 1.29 / 3600 for s in (1, 2, 3, 4)]
    assert curves.train.x == pytest.approx(expected)
    assert not curves.exact and "estimated" in curves.note
    # A running job: now stands in for the end.
    running = replace(FACTS, ended_at=None)
    live = run_curves(_records(times=False), DOLLARS, running, now=LAUNCH + 600.0)
    assert live.train.x[-1] == pytest.approx(600.0 * 1.29 / 3600)


def test_points_without_a_time_are_placed_between_the_logged_ones() -> None:
    records = _records()
    for record in records:
        if record.get("step") == 3:
            record.pop("time", None)
    curves = run_curves(records, DOLLARS, FACTS, now=0.0)
    assert curves.train.x[2] == pytest.approx((300.0 + 180.0) * 1.29 / 3600)
    assert curves.exact and "between the logged times" in curves.note


def test_dollars_need_a_price_and_a_billing_start() -> None:
    no_price = run_curves(_records(), DOLLARS, replace(FACTS, price_cents_per_hour=0), 0.0)
    assert not no_price.train.x and not no_price.exact and "price" in no_price.note
    never = replace(FACTS, billing_started_at=None, active_at=None)
    unlaunched = run_curves(_records(), DOLLARS, never, 0.0)
    assert not unlaunched.train.x and "billing start" in unlaunched.note


def test_tokens_from_the_trainer_count_when_logged() -> None:
    curves = run_curves(_records(tokens=True), TOKENS, FACTS, now=0.0)
    assert curves.train.x == (1000.0, 2000.0, 3000.0, 4000.0)
    # Eval records carry no count: placed by step on the train records' counts.
    assert curves.eval.x == (2000.0, 4000.0)
    assert curves.exact and curves.note == ""


def test_tokens_without_a_count_are_an_upper_bound_and_say_so() -> None:
    curves = run_curves(_records(), TOKENS, FACTS, now=0.0)
    assert curves.train.x == (4096.0, 8192.0, 12288.0, 16384.0)
    assert not curves.exact and "upper bound" in curves.note and "4,096" in curves.note


def test_run_facts_from_a_config_and_its_instance_type() -> None:
    config = TrainingConfig(
        base_model="m", batch_size=4, gradient_accumulation_steps=2, max_seq_length=512
    )
    assert gpus_of("gpu_8x_a100_80gb_sxm4") == 8
    assert gpus_of("gpu_1x_a10") == 1 and gpus_of("cpu_4x_general") == 1 and gpus_of("?") == 1
    assert tokens_per_step(config, 8) == 4 * 2 * 8 * 512
    facts = run_facts(
        config,
        instance_type="gpu_2x_h100_sxm5",
        price_cents_per_hour=598,
        launch_sent_at=None,
        started_at=50.0,
        ended_at=None,
    )
    assert facts.tokens_per_step == 4 * 2 * 2 * 512
    assert facts.billing_started_at == 50.0  # no launch time recorded: from when it was active


def test_loss_points_skip_repeats_strings_and_non_finite_values() -> None:
    records: list[dict[str, Any]] = [
        {"step": 1, "loss": "2.5"},
        {"step": 2, "loss": None},
        {"step": 2, "loss": 2.0},
        {"step": 2, "loss": 9.0},  # logged again after a reattach: the first value stays
        {"step": "x", "loss": 1.0},
        {"step": 3, "loss": float("nan")},
        {"step": 4, "loss": True},
        {"loss": 1.0},
    ]
    train, evals = loss_points(records)
    assert train == [(1.0, 2.5), (2.0, 2.0)] and evals == []


def test_an_unknown_axis_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown x axis"):
        run_curves([], "epochs", FACTS, 0.0)


@given(
    st.lists(st.tuples(st.integers(0, 10_000), st.floats(-1e6, 1e6)), min_size=1, max_size=30).map(
        lambda pairs: sorted({float(s): v for s, v in pairs}.items())
    ),
    st.floats(-100, 20_000),
)
def test_interpolation_stays_within_its_neighbours(
    known: list[tuple[float, float]], step: float
) -> None:
    value = interpolate(step, known)
    values = [v for _, v in known]
    assert min(values) - 1e-6 <= value <= max(values) + 1e-6
    for s, v in known:
        assert interpolate(s, known) == pytest.approx(v)


# -- hyperparameters -------------------------------------------------------------------------


def test_the_table_flags_exactly_the_differing_fields() -> None:
    base = TrainingConfig(base_model="meta-llama/Llama-3.2-1B", learning_rate=2e-4)
    configs = [
        base,
        replace(base, learning_rate=0.0002, rank=32),  # the same rate spelt otherwise
        replace(base, lr_scheduler="linear", target_modules=["q_proj", "v_proj"]),
    ]
    rows = hyperparameter_table(configs)
    assert [r.field for r in rows] == [name for name, _ in COMPARED_FIELDS]
    assert differing_fields(rows) == ["rank", "lr_scheduler"]
    rank = next(r for r in rows if r.field == "rank")
    assert rank.label == "LoRA rank" and rank.values == ("16", "32", "16")
    assert hyperparameter_table([base])[0].differs is False


def test_values_read_as_a_person_reads_them() -> None:
    assert format_value("learning_rate", 2e-4) == "0.0002"
    assert format_value("max_steps", -1) == "— (epochs decide)"
    assert format_value("max_steps", 200) == "200"
    assert format_value("bf16", None) == "auto"
    assert format_value("gradient_checkpointing", True) == "yes"
    assert format_value("target_modules", ["q_proj", "v_proj"]) == "q_proj, v_proj"
    assert format_value("resume_of", None) == "—"
    assert format_value("num_epochs", 1.0) == "1"
