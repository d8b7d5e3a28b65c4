"""The model card of a pushed adapter: front matter the Hub reads, and nothing private."""

from __future__ import annotations

import math
from typing import Any

import pytest

from lambda_gui.core.job_state import Billing
from lambda_gui.core.models import JobPhase, TrainingConfig
from lambda_gui.services.model_card import LOSS_CURVE_FILE, build_model_card, loss_series
from lambda_gui.services.store import JobRecord

yaml = pytest.importorskip("yaml")

METRICS: list[dict[str, Any]] = [
    {"step": 10, "epoch": 0.5, "loss": 2.25, "learning_rate": 2e-4},
    {"step": 10, "epoch": 0.5, "eval_loss": 2.5},
    {"step": 20, "epoch": 1.0, "loss": "1.75", "learning_rate": 1e-4},
    {"step": 20, "epoch": 1.0, "eval_loss": 1.875},
    {"step": 20, "epoch": 1.0, "train_loss": 2.0, "train_runtime": 61.0},
]


def _job(**config: Any) -> JobRecord:
    fields: dict[str, Any] = {
        "base_model": "meta-llama/Llama-3.1-8B",
        "dataset_path": "/home/me/secret-project/support_tickets.jsonl",
        "rank": 8,
        "alpha": 16,
        "learning_rate": 1e-4,
        "target_modules": ["q_proj", "k_proj", "v_proj"],
        **config,
    }
    return JobRecord(
        id="job-42",
        config=TrainingConfig(**fields),
        phase=JobPhase.COMPLETED,
        instance_name="lambda-gui-job-42",
        instance_type="gpu_8x_h100_sxm5",
        price_cents_per_hour=2392,
        launch_sent_at=1_000.0,
        started_at=1_100.0,
        ended_at=1_000.0 + 1.5 * 3600,
        billing=Billing.TERMINATED,
    )


def _split(card: str) -> tuple[dict[str, Any], str]:
    assert card.startswith("---\n")
    head, body = card[4:].split("\n---\n", 1)
    meta = yaml.safe_load(head)
    assert isinstance(meta, dict)
    return meta, body


def test_front_matter_names_base_model_library_and_tags() -> None:
    meta, _ = _split(build_model_card(_job(), METRICS, repo_id="alice/support-lora"))
    assert meta["base_model"] == "meta-llama/Llama-3.1-8B"
    assert meta["library_name"] == "peft"
    assert {"lora", "lambda-gui"} <= set(meta["tags"])
    assert "base_model:adapter:meta-llama/Llama-3.1-8B" in meta["tags"]
    assert "license" not in meta
    assert "datasets" not in meta  # a local file is no Hub dataset


def test_license_when_known() -> None:
    meta, _ = _split(build_model_card(_job(), METRICS, license_id="Apache-2.0"))
    assert meta["license"] == "apache-2.0"
    meta, _ = _split(build_model_card(_job(extra={"license": "llama3.1"}), METRICS))
    assert meta["license"] == "llama3.1"
    meta, _ = _split(build_model_card(_job(), METRICS, license_id="not a: license\n"))
    assert "license" not in meta


def test_a_local_dataset_is_named_by_its_file_name_only() -> None:
    card = build_model_card(_job(), METRICS)
    assert "support\\_tickets.jsonl" not in card  # code spans are not escaped
    assert "`support_tickets.jsonl` (a local file)" in card
    assert "/home/me" not in card and "secret-project" not in card


def test_a_windows_path_is_cut_too() -> None:
    card = build_model_card(_job(dataset_path="C:\\Users\\me\\data\\chat.csv"), METRICS)
    assert "`chat.csv`" in card and "Users" not in card


def test_a_hub_dataset_is_named_by_its_id() -> None:
    card = build_model_card(_job(dataset_path="hf://tatsu-lab/alpaca?split=train"), METRICS)
    meta, body = _split(card)
    assert meta["datasets"] == ["tatsu-lab/alpaca"]
    assert "https://huggingface.co/datasets/tatsu-lab/alpaca" in body


def test_a_local_base_model_is_never_written_as_a_path() -> None:
    card = build_model_card(
        _job(base_model="/home/me/models/my-llama", model_source="local"), METRICS
    )
    meta, body = _split(card)
    assert "base_model" not in meta
    assert not any(tag.startswith("base_model:") for tag in meta["tags"])
    assert "my-llama" in body and "/home/me" not in card


def test_no_tracker_setting_appears() -> None:
    job = _job(
        report_to="wandb",
        tracker_env={"WANDB_API_KEY": "wandb-secret-value", "WANDB_PROJECT": "proj-name"},
        tracker_secrets=["HF_TOKEN"],
    )
    card = build_model_card(job, METRICS)
    for text in ("wandb-secret-value", "WANDB_API_KEY", "proj-name", "HF_TOKEN"):
        assert text not in card


def test_hyperparameters_table() -> None:
    card = build_model_card(_job(gradient_accumulation_steps=2), METRICS)
    for row in (
        "| Method | LoRA |",
        "| Rank (r) | 8 |",
        "| Alpha | 16 |",
        "| Learning rate | 0.0001 |",
        "| Target modules | `q_proj`, `k_proj`, `v_proj` |",
        "| Effective batch size | 64 |",  # 4 per GPU x 2 accumulation x 8 GPUs
    ):
        assert row in card


def test_final_losses_and_the_curve() -> None:
    card = build_model_card(_job(), METRICS)
    assert "| Final training loss | 1.7500 (step 20) |" in card
    assert "| Final validation loss | 1.8750 (step 20) |" in card
    assert f"]({LOSS_CURVE_FILE})" in card
    assert f"]({LOSS_CURVE_FILE})" not in build_model_card(_job(), METRICS, loss_curve=False)
    no_metrics = build_model_card(_job(), [])
    assert LOSS_CURVE_FILE not in no_metrics and "No training metrics" in no_metrics


def test_gpu_hours_and_cost() -> None:
    card = build_model_card(_job(), METRICS)
    assert "8× H100 SXM" in card
    assert "| Instance hours billed | 1.50 |" in card
    assert "| GPU-hours | 12.00 |" in card
    assert "$35.88" in card and "$23.92/h" in card


def test_unknown_price_leaves_the_cost_out() -> None:
    job = _job()
    job.price_cents_per_hour = 0
    card = build_model_card(job, METRICS)
    assert "GPU-hours" not in card and "$" not in card


def test_how_to_load_it() -> None:
    card = build_model_card(_job(), METRICS, repo_id="alice/support-lora")
    assert 'from_pretrained("meta-llama/Llama-3.1-8B"' in card
    assert 'PeftModel.from_pretrained(base, "alice/support-lora")' in card
    assert card.startswith("---\n") and "\n# support-lora\n" in card


def test_markup_in_user_text_is_escaped() -> None:
    card = build_model_card(_job(dataset_path="/d/a|b`c.jsonl", target_modules=["x|y"]), METRICS)
    assert "`a\\|b'c.jsonl`" in card and "`x\\|y`" in card
    for line in card.splitlines():
        if line.startswith("| Dataset") or line.startswith("| Target"):
            assert line.replace("\\|", "").count("|") == 3


def test_loss_series_reads_numbers_and_skips_the_rest() -> None:
    series = loss_series(
        [
            {"step": 2, "loss": 1.0},
            {"step": 1, "loss": 2.0},
            {"loss": float("nan")},
            {"step": 3, "loss": True},
            {"step": 3, "loss": "x"},
            {"eval_loss": 0.5},
            "not a record",  # type: ignore[list-item]
        ]
    )
    assert series.train == [(1.0, 2.0), (2.0, 1.0)]
    assert series.eval == [(5.0, 0.5)]  # no step: its index
    assert series.final_train == (2.0, 1.0)
    assert not loss_series([{"step": 1, "loss": math.inf}])
