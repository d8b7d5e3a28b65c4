"""Validation on by default: 5% held out from 200 rows on, an eval interval that gives the eval
curve points, and what the user (or a loaded config, or a preset) chose left alone."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lambda_gui.core.validation_default import (
    AUTO_MIN_ROWS,
    AUTO_SPLIT,
    estimated_steps,
    eval_interval,
    held_out_rows,
    validation_defaults,
    validation_note,
)
from lambda_gui.core.wizard import DatasetPreview, Wizard, config_to_json

BASE = {"batch_size": 4, "gradient_accumulation_steps": 1, "num_epochs": 1.0, "max_steps": -1}


def test_held_out_rows_as_train_py_counts_them() -> None:
    assert held_out_rows(1000, 0.05) == 50
    assert held_out_rows(10, 0.01) == 1  # at least one
    assert held_out_rows(1000, 0) == 0


def test_estimated_steps() -> None:
    assert estimated_steps({**BASE, "validation_split": 0.05}, 1000) == 238  # 950 rows / 4
    assert estimated_steps({**BASE, "gradient_accumulation_steps": 4}, 1000) == 63
    assert estimated_steps({**BASE, "num_epochs": 3.0}, 1000) == 750
    assert estimated_steps({**BASE, "max_steps": 40}, 1000) == 40
    assert estimated_steps({"num_epochs": float("inf")}, 1000) >= 1


def test_eval_interval_gives_about_ten_evaluations_on_logging_steps() -> None:
    assert eval_interval(1000, 1) == 100
    assert eval_interval(1000, 30) == 120  # a multiple of the logging interval
    assert eval_interval(72, 1) == 10  # at least 10 steps apart
    assert eval_interval(5, 1) == 5  # a run shorter than that evaluates at its end
    assert eval_interval(50, 25) == 25


@given(st.integers(1, 10**7), st.integers(1, 1000))
def test_eval_interval_is_on_a_logging_step(steps: int, logging: int) -> None:
    interval = eval_interval(steps, logging)
    assert interval % logging == 0 and interval >= 1
    assert interval >= min(10, steps)


def test_defaults_follow_the_row_count() -> None:
    on = validation_defaults(BASE, set(), 1000, 1000)
    assert on == {"validation_split": AUTO_SPLIT, "eval_steps": 24}
    off = validation_defaults(BASE, set(), AUTO_MIN_ROWS - 1, AUTO_MIN_ROWS - 1)
    assert off == {"validation_split": 0.0, "eval_steps": 0}
    assert validation_defaults(BASE, set(), None, 2000) == {
        "validation_split": 0.0,
        "eval_steps": 0,
    }


def test_chosen_values_are_left_alone() -> None:
    draft = {**BASE, "validation_split": 0.0, "eval_steps": 0}
    assert validation_defaults(draft, {"validation_split", "eval_steps"}, 1000, 1000) == {}
    # A split the user chose still gets an eval interval unless that was chosen too.
    chosen = {**BASE, "validation_split": 0.1}
    assert validation_defaults(chosen, {"validation_split"}, 150, 150) == {"eval_steps": 10}


def test_notes_say_why() -> None:
    on = {**BASE, "validation_split": 0.05, "eval_steps": 24}
    assert validation_note(on, set(), 1000).startswith("On by default: 50 of 1,000 rows")
    assert "every 24 steps" in validation_note(on, set(), 1000)
    off = {**BASE, "validation_split": 0.0, "eval_steps": 0}
    assert "140 rows are too few" in validation_note(off, set(), 140)
    assert "from 200 rows" in validation_note(off, set(), 140)
    assert validation_note(off, {"validation_split"}, 1000) == ""
    mine = {**BASE, "validation_split": 0.1, "eval_steps": 0}
    assert "100 of 1,000 rows are held out" in validation_note(mine, {"validation_split"}, 1000)
    assert "after each epoch" in validation_note(mine, {"validation_split"}, 1000)
    assert "Off until a dataset file is read" in validation_note(off, set(), None)


ROWS = [{"instruction": f"Say {i}", "input": "", "output": f"{i}"} for i in range(20)]


def _wizard(**draft: object) -> Wizard:
    w = Wizard({"base_model": "Qwen/Qwen2.5-0.5B", **draft})
    w.set("dataset_path", "/data/train.jsonl")
    return w


def test_the_wizard_turns_validation_on_for_a_large_dataset() -> None:
    w = _wizard()
    assert w.get("validation_split") == 0.0
    w.set_preview(DatasetPreview.from_rows("/data/train.jsonl", ROWS, 1000))
    assert w.get("validation_split") == AUTO_SPLIT
    assert w.get("eval_steps") == 24  # 950 rows / batch 4 = 238 steps, about 10 evaluations
    assert not w.errors("dataset") and not w.errors("hyperparameters")
    # Later choices move the interval along.
    w.set("num_epochs", 3.0)
    assert w.get("eval_steps") == 72
    # Another, small file: off again, with no eval interval left behind.
    w.set("dataset_path", "/data/small.jsonl")
    w.set_preview(DatasetPreview.from_rows("/data/small.jsonl", ROWS, 140))
    assert w.get("validation_split") == 0.0 and w.get("eval_steps") == 0
    assert not w.errors("hyperparameters")


def test_the_wizard_keeps_what_the_user_chose() -> None:
    w = _wizard()
    w.set("validation_split", 0.0)
    w.set_preview(DatasetPreview.from_rows("/data/train.jsonl", ROWS, 1000))
    assert w.get("validation_split") == 0.0 and w.get("eval_steps") == 0
    w2 = _wizard()
    w2.set("eval_steps", 7)
    w2.set_preview(DatasetPreview.from_rows("/data/train.jsonl", ROWS, 1000))
    assert w2.get("validation_split") == AUTO_SPLIT and w2.get("eval_steps") == 7


def test_a_loaded_config_and_a_preset_count_as_chosen() -> None:
    saved = _wizard()
    loaded = Wizard.from_json(config_to_json(saved.state.config()))
    loaded.set_preview(DatasetPreview.from_rows("/data/train.jsonl", ROWS, 1000))
    assert loaded.get("validation_split") == 0.0
    w = _wizard()
    w.apply_preset("quick_test")
    w.set_preview(DatasetPreview.from_rows("/data/train.jsonl", ROWS, 1000))
    assert (w.get("validation_split"), w.get("eval_steps")) == (0.0, 0)


def test_steps_and_eval_interval_count_the_training_processes() -> None:
    # On 8 GPUs each process takes its own batch: 950 rows / (4 x 8) = 30 steps, not 238.
    assert estimated_steps({**BASE, "validation_split": 0.05}, 1000, gpus=8) == 30
    assert estimated_steps({**BASE, "max_steps": 40}, 1000, gpus=8) == 40
    one = validation_defaults(BASE, set(), 1000, 1000)
    eight = validation_defaults(BASE, set(), 1000, 1000, gpus=8)
    assert one["eval_steps"] == 24 and eight["eval_steps"] == 10
