"""A job's samples (prompt | base | tuned | reference), as brought back from its instance.

The instance writes them (remote/bundle_files/after_training.py); this reads the local copy,
checking every field: the file came over the network and is read into widgets."""

from __future__ import annotations

import json
from pathlib import Path

from lambda_gui.core.errors import LambdaGUIError
from lambda_gui.core.models import Sample

SAMPLES_FILE = "samples.json"
# A few dozen prompts of a few thousand characters: anything far larger is not ours.
MAX_SAMPLES_BYTES = 16 * 1024 * 1024
MAX_SAMPLES = 100


class SamplesUnreadableError(LambdaGUIError, ValueError):
    """samples.json exists but is not what the instance writes."""


def read_samples(job_dir: Path) -> list[Sample]:
    """The samples in `job_dir`/samples.json; [] when the job has none."""
    path = job_dir / SAMPLES_FILE
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return []
    if size > MAX_SAMPLES_BYTES:
        raise SamplesUnreadableError(
            f"{path} is {size / 1e6:.0f} MB; samples are a few KB. Delete it and regenerate."
        )
    try:
        data = json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise SamplesUnreadableError(f"{path} is not valid JSON ({exc}).") from None
    rows = data.get("samples") if isinstance(data, dict) else None
    if not isinstance(rows, list) or len(rows) > MAX_SAMPLES:
        raise SamplesUnreadableError(f"{path} holds no list of at most {MAX_SAMPLES} samples.")
    samples: list[Sample] = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise SamplesUnreadableError(f"sample {index + 1} in {path} is not an object.")
        texts = [row.get(key) for key in ("prompt", "base", "tuned")]
        reference = row.get("reference")
        if not all(isinstance(t, str) for t in texts) or not (
            reference is None or isinstance(reference, str)
        ):
            raise SamplesUnreadableError(
                f"sample {index + 1} in {path} lacks its prompt, base or tuned text."
            )
        prompt, base, tuned = (str(t) for t in texts)
        samples.append(Sample(prompt, base, tuned, reference))
    return samples
