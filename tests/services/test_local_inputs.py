"""The dataset check before a launch: the whole file, streamed, off the event loop."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from lambda_gui.core.dataset_format import DatasetEncodingError, DatasetFormatError, Progress
from lambda_gui.core.errors import ConfigError
from lambda_gui.core.models import TrainingConfig
from lambda_gui.services import local_inputs
from lambda_gui.services.local_inputs import check_local_inputs

MiB = 1024 * 1024
ROW = {"instruction": "Add the two numbers.", "input": "1 2", "output": "3"}


def _config(path: Path) -> TrainingConfig:
    return TrainingConfig(base_model="meta-llama/Llama-3.2-1B", dataset_path=str(path))


def _jsonl(path: Path, size: int) -> int:
    """Write about `size` bytes of good rows; the number of rows."""
    line = json.dumps(ROW) + "\n"
    rows = size // len(line) + 1
    path.write_text(line * rows)
    return rows


async def test_a_valid_json_file_over_8_mib_passes(tmp_path: Path) -> None:
    """It was cut at 8 MiB and then "not valid JSON"."""
    path = tmp_path / "train.json"
    rows = 10 * MiB // len(json.dumps(ROW)) + 1
    path.write_text(json.dumps([ROW] * rows))
    assert path.stat().st_size > 10 * MiB
    fmt = await check_local_inputs(_config(path))
    assert fmt is not None and (fmt.kind, fmt.rows_checked) == ("alpaca", rows)


async def test_a_broken_line_after_8_mib_is_caught_before_launch(tmp_path: Path) -> None:
    """It passed and failed on the instance, after the boot was paid for."""
    path = tmp_path / "train.jsonl"
    rows = _jsonl(path, 9 * MiB)
    with path.open("a") as fh:
        fh.write('{"instruction": "cut off", "outp\n')
    with pytest.raises(ConfigError) as info:
        await check_local_inputs(_config(path))
    assert info.value.field == "dataset_path"
    assert f"Line {rows + 1} is not valid JSON" in str(info.value)


@pytest.mark.parametrize("where", [0, 9 * MiB])
async def test_a_non_utf8_byte_names_its_place_and_the_fix(tmp_path: Path, where: int) -> None:
    """A small file raised a bare UnicodeDecodeError; past 8 MiB the byte was ignored."""
    path = tmp_path / "train.jsonl"
    rows = _jsonl(path, where) if where else 0
    offset = path.stat().st_size if where else 0
    with path.open("ab") as fh:
        fh.write(b'{"instruction": "caf\xe9", "output": "x"}\n')
    with pytest.raises(ConfigError) as info:
        await check_local_inputs(_config(path))
    cause = info.value.__cause__
    assert isinstance(cause, DatasetEncodingError)
    assert (cause.offset, cause.line) == (offset + 20, rows + 1)
    message = str(info.value)
    assert f"byte {offset + 20:,} (line {rows + 1})" in message and "as UTF-8" in message


async def test_progress_reaches_the_loop_and_the_check_runs_off_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "train.jsonl"
    _jsonl(path, 3 * MiB)
    size = path.stat().st_size
    loop_thread = threading.get_ident()
    workers: list[int] = []
    validate = local_inputs.validate_file

    def spy(*args: Any, **kwargs: Any) -> Any:
        workers.append(threading.get_ident())
        return validate(*args, **kwargs)

    monkeypatch.setattr(local_inputs, "validate_file", spy)
    seen: list[tuple[int, int, int]] = []
    await check_local_inputs(
        _config(path), lambda done, total: seen.append((done, total, threading.get_ident()))
    )
    await asyncio.sleep(0)  # the last report was scheduled with call_soon_threadsafe
    assert workers and workers[0] != loop_thread
    assert seen and {t for _, _, t in seen} == {loop_thread}
    assert seen[-1][:2] == (size, size)
    assert [d for d, _, _ in seen] == sorted(d for d, _, _ in seen)


async def test_cancelling_the_check_stops_the_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "train.jsonl"
    _jsonl(path, 1000)
    stopped = threading.Event()
    started = threading.Event()

    def endless(*_args: Any, progress: Progress, **_kwargs: Any) -> None:
        started.set()
        try:
            while True:  # a file that takes forever to read
                progress(1, 2)
                threading.Event().wait(0.01)
        finally:
            stopped.set()

    monkeypatch.setattr(local_inputs, "validate_file", endless)
    task = asyncio.ensure_future(check_local_inputs(_config(path), lambda d, t: None))
    await asyncio.to_thread(started.wait, 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(stopped.wait, 5)


async def test_unreadable_and_wrong_layout_files_are_config_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text('{"question": "q"}\n')
    with pytest.raises(ConfigError, match="Cannot tell the dataset's layout") as info:
        await check_local_inputs(_config(path))
    assert isinstance(info.value.__cause__, DatasetFormatError)

    def unreadable(*_args: Any, **_kwargs: Any) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(local_inputs, "validate_file", unreadable)
    with pytest.raises(ConfigError, match="cannot be read \\(Permission denied\\)"):
        await check_local_inputs(_config(path))
