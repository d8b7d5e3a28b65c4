"""Finding and preparing the Python the demo trains with (the packaged app has no PyTorch)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lambda_gui.services import demo_python
from lambda_gui.services.demo_python import DemoSetupError, find_python, prepare


def test_no_python3_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DemoSetupError) as caught:
        find_python(None)
    text = str(caught.value)
    assert "no python3 was found" in text and "apt install python3" in text
    assert "--training-python" in text


def test_a_chosen_path_must_run(tmp_path: Path) -> None:
    with pytest.raises(DemoSetupError, match="cannot be run|is not a Python"):
        find_python(tmp_path / "nope")
    assert find_python(Path(sys.executable)) == Path(sys.executable)


async def test_a_python_with_the_builders_is_used_as_it_is(tmp_path: Path) -> None:
    lines: list[str] = []
    python = await prepare(Path(sys.executable), tmp_path / "venv", lines.append)
    assert python == Path(sys.executable) and lines == []
    assert not (tmp_path / "venv").exists()


async def test_a_broken_python_is_a_clear_error(tmp_path: Path) -> None:
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/sh\necho 'no such module' >&2\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(DemoSetupError, match="no such module"):
        await prepare(fake, tmp_path / "venv", lambda _line: None)


def test_not_frozen_under_pytest() -> None:
    assert not demo_python.is_frozen()
