"""The GUI depends on the small Protocols of services/ports.py, not on the concrete connector:
LambdaLabsConnector satisfies each one structurally (same names, parameters, defaults,
async-ness and types; checked here at runtime, and by mypy on `_connector_as_every_port`),
and no module under lambda_gui/gui/ but main_window.py imports LambdaLabsConnector at run time.
"""

from __future__ import annotations

import ast
import inspect
import sys
import typing
from pathlib import Path
from typing import Any

import pytest

from lambda_gui.services import ports
from lambda_gui.services.connector import LambdaLabsConnector
from lambda_gui.services.ports import (
    CatalogSource,
    JobControl,
    JobLister,
    JobReader,
    JobSubmitter,
    MoneyWatch,
    QuitControl,
    SettingsSource,
    SettingsStore,
)
from lambda_gui.services.settings import Settings

GUI = Path(__file__).resolve().parents[2] / "lambda_gui" / "gui"
# They build the window over the one connector: the main window, and the packaged app's
# self-test (which builds it as the app does).
COMPOSERS = {"main_window.py", "self_test.py"}

PORTS: list[type] = [
    obj
    for obj in vars(ports).values()
    if isinstance(obj, type)
    and obj.__module__ == ports.__name__
    and getattr(obj, "_is_protocol", False)
]


def _connector_as_every_port(connector: LambdaLabsConnector) -> list[object]:
    """mypy checks each assignment: the connector is each Protocol."""
    catalog: CatalogSource = connector
    submitter: JobSubmitter = connector
    lister: JobLister = connector
    reader: JobReader = connector
    control: JobControl = connector
    money: MoneyWatch = connector
    quitting: QuitControl = connector
    settings: SettingsSource = connector
    return [catalog, submitter, lister, reader, control, money, quitting, settings]


def _settings_as_store(settings: Settings) -> SettingsStore:
    return settings


def _members(protocol: type) -> list[str]:
    """The public names a Protocol declares, its Protocol bases' included."""
    names: set[str] = set()
    for cls in protocol.__mro__:
        if cls in (object, typing.Protocol, typing.Generic) or not getattr(
            cls, "_is_protocol", False
        ):
            continue
        names.update(n for n in vars(cls) if not n.startswith("_"))
    return sorted(names)


def _kind(fn: Any) -> str:
    if inspect.iscoroutinefunction(fn):
        return "coroutine"
    # An async generator function is called without await, as a plain one returning an
    # AsyncIterator is.
    return "call"


def _type_checking_names(module: Any) -> dict[str, Any]:
    """The names a module imports under `if TYPE_CHECKING:` (the connector imports its heavy
    types there so that importing it stays cheap), imported here for real."""
    names: dict[str, Any] = {}
    for node in ast.parse(inspect.getsource(module)).body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            code = compile(ast.Module(body=node.body, type_ignores=[]), module.__file__, "exec")
            exec(code, names)  # noqa: S102 (the module's own import lines)
    return names


def _hints(fn: Any) -> dict[str, Any]:
    module = sys.modules[fn.__module__]
    return typing.get_type_hints(fn, globalns={**vars(module), **_type_checking_names(module)})


def structural_problems(impl: type, protocol: type) -> list[str]:
    """How `impl` fails to satisfy `protocol` (empty: it does)."""
    problems = []
    for name in _members(protocol):
        wanted = inspect.getattr_static(protocol, name)
        try:
            have = inspect.getattr_static(impl, name)
        except AttributeError:
            problems.append(f"{impl.__name__} has no {name}")
            continue
        where = f"{impl.__name__}.{name} vs {protocol.__name__}.{name}"
        if isinstance(wanted, property):
            if not isinstance(have, property) or have.fset is not None:
                problems.append(f"{where}: not a read-only property")
                continue
            want_type = _hints(wanted.fget)["return"]
            have_type = _hints(have.fget)["return"]
            if getattr(want_type, "_is_protocol", False):
                problems += structural_problems(have_type, want_type)
            elif want_type != have_type:
                problems.append(f"{where}: returns {have_type}, not {want_type}")
            continue
        if _kind(wanted) != _kind(have):
            problems.append(f"{where}: {_kind(have)}, not {_kind(wanted)}")
        want_sig, have_sig = inspect.signature(wanted), inspect.signature(have)
        shape = [(p.name, p.kind, p.default) for p in want_sig.parameters.values()]
        if shape != [(p.name, p.kind, p.default) for p in have_sig.parameters.values()]:
            problems.append(f"{where}: parameters {have_sig} differ from {want_sig}")
        elif _hints(wanted) != _hints(have):
            problems.append(f"{where}: types {_hints(have)} differ from {_hints(wanted)}")
    return problems


def test_every_protocol_is_found() -> None:
    names = {p.__name__ for p in PORTS}
    assert {"CatalogSource", "JobControl", "MoneyWatch", "SettingsSource"} <= names
    assert all(_members(p) for p in PORTS if p is not QuitControl)


@pytest.mark.parametrize("protocol", PORTS, ids=lambda p: p.__name__)
def test_the_connector_satisfies_the_protocol(protocol: type) -> None:
    if protocol is SettingsStore:
        assert structural_problems(Settings, protocol) == []
    else:
        assert structural_problems(LambdaLabsConnector, protocol) == []


def test_the_check_catches_a_mismatch() -> None:
    class Wrong:
        async def list_resources(self, refresh: bool = False) -> list[str]:  # not keyword-only
            return []

        def get_pricing(self, resource_id: str) -> None:  # not async
            return None

    problems = structural_problems(Wrong, CatalogSource)
    assert any("list_resources" in p and "parameters" in p for p in problems)
    assert any("get_pricing" in p and "not coroutine" in p for p in problems)
    assert any("no catalog_fetched_at" in p for p in problems)


def test_the_typed_assignments_hold_at_run_time() -> None:
    connector = LambdaLabsConnector()
    assert all(port is connector for port in _connector_as_every_port(connector))


def _runtime_imports_of_connector(tree: ast.Module) -> list[int]:
    """Lines importing LambdaLabsConnector (or the connector module) outside
    `if TYPE_CHECKING:`."""
    found: list[int] = []

    def visit(node: ast.AST, guarded: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for stmt in node.body:
                visit(stmt, True)
            for stmt in node.orelse:
                visit(stmt, guarded)
            return
        if not guarded:
            if isinstance(node, ast.ImportFrom) and node.module == "lambda_gui.services.connector":
                if any(a.name in ("LambdaLabsConnector", "*") for a in node.names):
                    found.append(node.lineno)
            elif isinstance(node, ast.ImportFrom) and node.module == "lambda_gui.services":
                if any(a.name == "connector" for a in node.names):
                    found.append(node.lineno)
            elif isinstance(node, ast.Import):
                if any(a.name == "lambda_gui.services.connector" for a in node.names):
                    found.append(node.lineno)
        for child in ast.iter_child_nodes(node):
            visit(child, guarded)

    visit(tree, False)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def test_only_the_main_window_imports_the_concrete_connector() -> None:
    offenders = []
    for path in sorted(GUI.rglob("*.py")):
        if path.relative_to(GUI).as_posix() in COMPOSERS:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        offenders += [
            f"{path.relative_to(GUI)}:{line}" for line in _runtime_imports_of_connector(tree)
        ]
    assert offenders == [], "GUI parts take a services.ports Protocol, not LambdaLabsConnector"


def test_the_import_rule_sees_type_checking() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from lambda_gui.services.connector import LambdaLabsConnector\n"
        "def f():\n"
        "    from lambda_gui.services.connector import LambdaLabsConnector\n"
        "import lambda_gui.services.connector\n"
    )
    assert _runtime_imports_of_connector(ast.parse(source)) == [5, 6]
