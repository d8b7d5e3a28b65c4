"""The local copy of a job's train.log (services/job_log.py): appended batches say where they
lie in the file, whether they come as bytes or as the streamed lines themselves."""

from __future__ import annotations

from pathlib import Path

from lambda_gui.services.job_log import JobLogs


async def test_appends_say_where_they_lie_and_lines_read_back(tmp_path: Path) -> None:
    logs = JobLogs(lambda job_id: tmp_path / job_id)
    assert await logs.append("j", b"one\n") == (0, 4)
    lines = [b"two\n", b"three \xff\n", b"\n"]
    assert await logs.append("j", lines) == (4, 4 + sum(map(len, lines)))
    assert await logs.append("j", []) == (0, 0)  # nothing written
    assert logs.path("j").read_bytes() == b"one\n" + b"".join(lines)
    await logs.finish("j")
    assert [line async for line in logs.lines("j", 4)] == ["two", "three \ufffd", ""]
