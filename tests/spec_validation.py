"""Checks a reply against Lambda's OpenAPI spec (tests/data/openapi.json, v1.8.3): the status
must be one the operation documents and the body must match that status's JSON schema, $refs
resolved, OAS 3.1 dialect. Used to validate every simulator reply in every test."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema.exceptions import best_match
from openapi_schema_validator import OAS31Validator, oas31_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).parent / "data" / "openapi.json"
_SPEC_URI = "urn:lambda-cloud-openapi"

#: Statuses the spec leaves out that a request-validating server must still send: a malformed
#: body gets the API's 400 invalid-parameters envelope even on operations (restart, terminate,
#: firewall rules) whose documented responses omit 400.
_UNDOCUMENTED_BAD_REQUEST: dict[str, Any] = {
    "$ref": f"{_SPEC_URI}#/components/schemas/ApiErrorInvalidParameters",
}


@cache
def load_spec() -> dict[str, Any]:
    """The parsed spec."""
    spec: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    return spec


@cache
def _registry() -> Registry:
    resource = Resource.from_contents(load_spec(), default_specification=DRAFT202012)
    return Registry().with_resource(_SPEC_URI, resource)


def _pointer_escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


@cache
def _validator(pointer: str) -> OAS31Validator:
    return OAS31Validator(
        {"$ref": f"{_SPEC_URI}#{pointer}"},
        registry=_registry(),
        format_checker=oas31_format_checker,
    )


def documented_statuses(method: str, path_template: str) -> set[int]:
    """The statuses the spec lists for an operation (empty if the operation is not in it)."""
    op = load_spec()["paths"].get(path_template, {}).get(method.lower())
    return set() if op is None else {int(s) for s in op["responses"]}


def check_reply(method: str, path_template: str, status: int, body: bytes) -> list[str]:
    """Everything wrong with one reply; an empty list means it follows the spec."""
    where = f"{method} {path_template} -> {status}"
    operation = load_spec()["paths"].get(path_template, {}).get(method.lower())
    if operation is None:
        return [f"{where}: the spec has no such operation"]
    try:
        document = json.loads(body)
    except ValueError:
        return [f"{where}: body is not JSON: {body[:200]!r}"]
    escaped_path = _pointer_escape(path_template)
    if str(status) in operation["responses"]:
        content = operation["responses"][str(status)].get("content", {})
        if "application/json" not in content:
            return [f"{where}: the spec documents no JSON body"]
        pointer = (
            f"/paths/{escaped_path}/{method.lower()}/responses/{status}"
            "/content/application~1json/schema"
        )
        validator = _validator(pointer)
    elif status == 400 and "requestBody" in operation:
        validator = OAS31Validator(
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["error"],
                "properties": {"error": _UNDOCUMENTED_BAD_REQUEST},
            },
            registry=_registry(),
            format_checker=oas31_format_checker,
        )
    else:
        documented = sorted(int(s) for s in operation["responses"])
        return [f"{where}: status not documented (the spec lists {documented})"]
    errors = list(validator.iter_errors(document))
    if not errors:
        return []
    worst = best_match(errors)
    path = "/".join(str(p) for p in worst.absolute_path)
    return [f"{where}: at /{path}: {worst.message}"]


@dataclass
class SpecValidator:
    """A `validate_response` hook for the simulator that collects what it finds."""

    violations: list[str] = field(default_factory=list)
    checked: int = 0

    def __call__(self, method: str, path_template: str, status: int, body: bytes) -> None:
        self.checked += 1
        self.violations.extend(check_reply(method, path_template, status, body))
