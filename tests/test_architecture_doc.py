"""docs/architecture.md stays true to the code: its lifecycle diagrams are what
scripts/lifecycle_diagram.py draws from the tables now, every phase and billing state is
described, the sections the code cites exist, and nothing points outside the repository."""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from types import ModuleType

import pytest

from lambda_gui.core.job_state import BILLING_MOVES, PHASE_MOVES, Billing, Phase, Reason

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
SCRIPT = ROOT / "scripts" / "lifecycle_diagram.py"
# Files outside the repository, which a reader of the repository cannot open.
OUTSIDE = (b"design.md", b"shared/")
FIX = "run: .venv/bin/python scripts/lifecycle_diagram.py --write"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lifecycle_diagram", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


diagram = _load_script()


def _doc() -> str:
    return DOC.read_text(encoding="utf-8")


def _outside_block(text: str) -> str:
    start, end = text.index(diagram.BEGIN), text.index(diagram.END)
    return text[:start] + text[end:]


def _mermaid_edges(block: str, heading: str) -> dict[tuple[str, str], set[str]]:
    """The labelled edges of the Mermaid diagram that follows `heading` in the block."""
    body = block.split(heading, 1)[1].split("```mermaid\n", 1)[1].split("```", 1)[0]
    found: dict[tuple[str, str], set[str]] = {}
    for line in body.splitlines():
        match = re.fullmatch(r"\s+(\w+) --> (\w+): (.+)", line)
        if match:
            old, new, label = match.groups()
            found[(old, new)] = set(label.split(", "))
    return found


def _as_names(
    table: Mapping[tuple[Enum, Enum], frozenset[Reason]],
) -> dict[tuple[str, str], set[str]]:
    return {(a.value, b.value): {r.name for r in reasons} for (a, b), reasons in table.items()}


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(text: str) -> set[str]:
    in_code = False
    anchors = set()
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            anchors.add(_slug(line.lstrip("#")))
    return anchors


def test_the_lifecycle_block_is_what_the_tables_draw_now() -> None:
    assert diagram.current_block(_doc()) == diagram.render(), (
        f"docs/architecture.md is stale; {FIX}"
    )


def test_the_script_checks_the_doc() -> None:
    assert diagram.main(["--check"]) == 0, FIX


def test_the_diagrams_hold_every_move_with_its_reasons() -> None:
    block = diagram.render()
    assert _mermaid_edges(block, "`PHASE_MOVES`") == _as_names(PHASE_MOVES)
    assert _mermaid_edges(block, "`BILLING_MOVES`") == _as_names(BILLING_MOVES)
    for reason in Reason:
        assert f"| `{reason.name}` |" in block


def test_the_output_does_not_depend_on_the_tables_order() -> None:
    shuffled = dict(reversed(list(PHASE_MOVES.items())))
    phases = list(Phase)
    assert diagram.state_diagram(shuffled, phases, [Phase.QUEUED]) == diagram.state_diagram(
        PHASE_MOVES, phases, [Phase.QUEUED]
    )


def test_write_replaces_only_the_block(tmp_path: Path) -> None:
    doc = tmp_path / "architecture.md"
    doc.write_text(f"# Top\n\n{diagram.BEGIN}\nold diagram\n{diagram.END}\n\n## After\n")
    assert diagram.main(["--check", "--doc", str(doc)]) == 1
    assert diagram.main(["--write", "--doc", str(doc)]) == 0
    text = doc.read_text()
    assert text.startswith(f"# Top\n\n{diagram.BEGIN}\n")
    assert text.endswith(f"\n{diagram.END}\n\n## After\n")
    assert diagram.current_block(text) == diagram.render()
    assert diagram.replace_block(text, diagram.render()) == text
    with pytest.raises(ValueError):
        diagram.replace_block("# no markers\n", "x")


@pytest.mark.parametrize("state", [*Phase, *Billing], ids=lambda s: f"{type(s).__name__}.{s.name}")
def test_every_phase_and_billing_state_is_described(state: Phase | Billing) -> None:
    # A row of the hand-written tables, outside the generated block.
    assert f"\n| `{state.value}` |" in _outside_block(_doc())


def test_the_sections_the_code_cites_exist() -> None:
    anchors = _anchors(_doc())
    cited: list[tuple[str, str]] = []
    for path in [*sorted((ROOT / "lambda_gui").rglob("*.py")), ROOT / "README.md"]:
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"architecture\.md#([\w-]+)", text):
            cited.append((str(path.relative_to(ROOT)), match.group(1)))
    assert cited, "no citation found: the search is broken"
    missing = [f"{where}: #{anchor}" for where, anchor in cited if anchor not in anchors]
    assert not missing, "docs/architecture.md has no such section:\n" + "\n".join(missing)


def test_nothing_points_outside_the_repository() -> None:
    paths = [p for p in sorted((ROOT / "lambda_gui").rglob("*")) if p.is_file()]
    paths += [ROOT / "README.md", DOC]
    found = []
    for path in paths:
        if "__pycache__" in path.parts:
            continue
        for number, line in enumerate(path.read_bytes().splitlines(), 1):
            if any(word in line for word in OUTSIDE):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.decode(errors='replace')}")
    assert not found, (
        "these cite files outside the repository; cite docs/architecture.md instead:\n"
        + "\n".join(found)
    )
