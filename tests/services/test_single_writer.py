"""Only services/lifecycle.py writes a job's phase or billing (docs/architecture.md): read from
the source, so a new writer elsewhere fails here before it can skip the lifecycle table."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "lambda_gui"
WRITER = PACKAGE / "services" / "lifecycle.py"
STORE = PACKAGE / "services" / "store.py"
STATE_FIELDS = {"phase", "billing"}
# Store calls that write a whole row or its state fields.
STATE_WRITES = {"write_state", "insert_job"}


def _offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        where = f"{path.name}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name = node.func.attr
            if name in STATE_WRITES:
                found.append(f"{where}: calls {name}()")
            if name == "update_job" and STATE_FIELDS & {k.arg for k in node.keywords if k.arg}:
                found.append(f"{where}: update_job() with phase/billing")
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            if isinstance(target, ast.Attribute) and target.attr in STATE_FIELDS:
                found.append(f"{where}: assigns .{target.attr}")
    return found


def test_only_the_lifecycle_writes_phase_and_billing() -> None:
    offences = [
        o
        for path in sorted(PACKAGE.rglob("*.py"))
        if path not in (WRITER, STORE)
        for o in _offences(path)
    ]
    assert not offences, "phase/billing written outside services/lifecycle.py:\n" + "\n".join(
        offences
    )


def test_the_check_sees_a_writer(tmp_path: Path) -> None:
    rogue = tmp_path / "rogue.py"
    rogue.write_text(
        "async def f(store, job):\n"
        "    await store.update_job(job.id, phase='running')\n"
        "    job.billing = 'none'\n"
        "    await store.write_state(job.id)\n",
        encoding="utf-8",
    )
    found = _offences(rogue)
    assert len(found) == 3, found
