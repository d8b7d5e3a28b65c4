"""The spec checker itself: it must catch what breaks the spec, or validating every simulator
reply would prove nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lambda_gui.simulator import Simulator, SimulatorConfig
from lambda_gui.simulator.records import InstanceRecord
from tests.simulator.helpers import call, launch
from tests.spec_validation import SpecValidator, check_reply, documented_statuses

ERROR_401 = {
    "error": {"code": "global/invalid-api-key", "message": "m", "suggestion": "s"},
}


def test_valid_replies_pass() -> None:
    assert check_reply("GET", "/api/v1/instances", 200, b'{"data": []}') == []
    assert check_reply("GET", "/api/v1/ssh-keys", 401, json.dumps(ERROR_401).encode()) == []


@pytest.mark.parametrize(
    ("method", "template", "status", "body", "expected"),
    [
        ("GET", "/api/v1/instances", 500, b"{}", "status not documented"),
        ("GET", "/api/v1/instances", 200, b"<html>", "not JSON"),
        ("GET", "/api/v1/instances", 200, b'{"data": [{"id": "x"}]}', "required property"),
        ("GET", "/api/v1/instances", 200, b'{"data": [], "extra": 1}', "Additional properties"),
        ("GET", "/api/v1/nothing", 200, b"{}", "no such operation"),
        (
            "GET",
            "/api/v1/instances",
            401,
            json.dumps({"error": {"code": "global/invalid-api-key", "message": "m"}}).encode(),
            "suggestion",
        ),
        (
            "POST",
            "/api/v1/instance-operations/terminate",
            400,
            json.dumps({"error": {"code": "global/other", "message": "m"}}).encode(),
            "global/invalid-parameters",
        ),
        (
            "GET",
            "/api/v1/instance-types",
            200,
            b'{"data": {"t": {"instance_type": {}, "regions_with_capacity_available": []}}}',
            "required property",
        ),
    ],
    ids=[
        "undocumented-status",
        "not-json",
        "instance-missing-fields",
        "extra-envelope-key",
        "unknown-operation",
        "401-without-suggestion",
        "400-wrong-code",
        "instance-type-missing-fields",
    ],
)
def test_violations_are_reported(
    method: str, template: str, status: int, body: bytes, expected: str
) -> None:
    problems = check_reply(method, template, status, body)
    assert len(problems) == 1 and expected in problems[0], problems


def test_documented_statuses() -> None:
    assert documented_statuses("POST", "/api/v1/instance-operations/launch") == {
        200,
        400,
        401,
        403,
        404,
    }


async def test_simulator_reply_that_breaks_the_spec_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = InstanceRecord.to_json

    def without_status(self: InstanceRecord) -> dict[str, Any]:
        data = original(self)
        del data["status"]
        return data

    monkeypatch.setattr(InstanceRecord, "to_json", without_status)
    validator = SpecValidator()
    async with Simulator(SimulatorConfig(root_dir=tmp_path, validate_response=validator)) as sim:
        sim.generate_key_pair("k")
        await launch(sim, "k")
        await call(sim, "GET", "/instances")
    assert validator.violations == [
        "GET /api/v1/instances -> 200: at /data/0: 'status' is a required property"
    ]
