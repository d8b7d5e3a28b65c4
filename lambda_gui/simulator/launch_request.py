"""Checking a launch body field by field, as the API does, before anything is created."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from lambda_gui.simulator.api_errors import invalid_parameters

#: Region codes the spec's PublicRegionCode enum allows.
PUBLIC_REGION_CODES = frozenset(
    {
        "europe-central-1",
        "asia-south-1",
        "australia-east-1",
        "me-west-1",
        "asia-northeast-1",
        "asia-northeast-2",
        "us-east-1",
        "us-west-2",
        "us-west-1",
        "us-south-1",
        "us-west-3",
        "us-midwest-1",
        "us-east-2",
        "us-south-2",
        "us-south-3",
        "us-east-3",
        "us-midwest-2",
    }
)

USER_DATA_LIMIT = 1024 * 1024
_HOSTNAME = re.compile(r"^[a-z0-9][0-9a-z-]{0,62}$")
_TAG_KEY = re.compile(r"^[a-z][a-z0-9-:]+$")
_MOUNT_POINT = re.compile(r"^(/home|/lambda/nfs|/data)[//a-zA-Z0-9-]*$")


@dataclass
class LaunchRequest:
    """A launch body that passed the shape checks (names are not yet looked up)."""

    region_name: str
    instance_type_name: str
    ssh_key_name: str
    name: str | None = None
    hostname: str | None = None
    file_system_names: list[str] = field(default_factory=list)
    file_system_mounts: list[dict[str, str]] = field(default_factory=list)
    image: dict[str, str] | None = None
    user_data: str | None = None
    tags: list[dict[str, str]] = field(default_factory=list)
    firewall_ruleset_ids: list[str] = field(default_factory=list)


def _string_list(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid_parameters(f"'{key}' must be a list of strings.")
    return list(value)


def _object_list(body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise invalid_parameters(f"'{key}' must be a list of objects.")
    return list(value)


def parse_launch_request(body: Any) -> LaunchRequest:
    """Check the shape of a launch body; raise the API's 400 for the first problem found."""
    if not isinstance(body, dict):
        raise invalid_parameters("The request body must be a JSON object.")
    for key in ("region_name", "instance_type_name", "ssh_key_names"):
        if key not in body:
            raise invalid_parameters(f"Missing required field '{key}'.")
    region = body["region_name"]
    if not isinstance(region, str) or region not in PUBLIC_REGION_CODES:
        raise invalid_parameters(
            f"'region_name' is not a valid region: {region!r}.",
            "Use one of the region codes listed by GET /instance-types.",
        )
    type_name = body["instance_type_name"]
    if not isinstance(type_name, str) or not type_name:
        raise invalid_parameters("'instance_type_name' must be a non-empty string.")
    keys = _string_list(body, "ssh_key_names")
    if len(keys) != 1:
        raise invalid_parameters(
            "Exactly one SSH key must be specified in 'ssh_key_names'.",
            "Pass the name of one SSH key registered to your account.",
        )
    request = LaunchRequest(region_name=region, instance_type_name=type_name, ssh_key_name=keys[0])
    _parse_optional(body, request)
    return request


def _parse_optional(body: dict[str, Any], request: LaunchRequest) -> None:
    name = body.get("name")
    if name is not None:
        if not isinstance(name, str) or len(name) > 64:
            raise invalid_parameters("'name' must be a string of 64 characters or fewer.")
        request.name = name
    hostname = body.get("hostname")
    if hostname is not None:
        if not isinstance(hostname, str) or not _HOSTNAME.match(hostname):
            raise invalid_parameters(
                "'hostname' must be 1-63 lowercase letters, digits or hyphens, "
                "starting with a letter or digit."
            )
        request.hostname = hostname
    request.file_system_names = _string_list(body, "file_system_names")
    for mount in _object_list(body, "file_system_mounts"):
        point, fs_id = mount.get("mount_point"), mount.get("file_system_id")
        if not isinstance(fs_id, str) or not isinstance(point, str):
            raise invalid_parameters(
                "Each file system mount needs 'mount_point' and 'file_system_id'."
            )
        if len(point) > 256 or not _MOUNT_POINT.match(point):
            raise invalid_parameters(f"Invalid mount point {point!r}.")
        request.file_system_mounts.append({"mount_point": point, "file_system_id": fs_id})
    image = body.get("image")
    if image is not None:
        if not isinstance(image, dict) or not (
            isinstance(image.get("id"), str) or isinstance(image.get("family"), str)
        ):
            raise invalid_parameters('\'image\' must be {"id": ...} or {"family": ...}.')
        request.image = {k: image[k] for k in ("id", "family") if isinstance(image.get(k), str)}
    user_data = body.get("user_data")
    if user_data is not None:
        if not isinstance(user_data, str):
            raise invalid_parameters("'user_data' must be a string.")
        if len(user_data.encode()) > USER_DATA_LIMIT:
            raise invalid_parameters("'user_data' must not exceed 1 MB.")
        request.user_data = user_data
    for tag in _object_list(body, "tags"):
        key, value = tag.get("key"), tag.get("value")
        if not isinstance(key, str) or len(key) > 55 or not _TAG_KEY.match(key):
            raise invalid_parameters(f"Invalid tag key {key!r}.")
        if not isinstance(value, str) or len(value) > 128:
            raise invalid_parameters(f"Invalid value for tag {key!r}.")
        request.tags.append({"key": key, "value": value})
    for ruleset in _object_list(body, "firewall_rulesets"):
        if not isinstance(ruleset.get("id"), str):
            raise invalid_parameters("Each firewall ruleset needs an 'id'.")
        request.firewall_ruleset_ids.append(ruleset["id"])


def parse_instance_ids(body: Any) -> list[str]:
    """The instance_ids list of a restart or terminate body."""
    if not isinstance(body, dict) or "instance_ids" not in body:
        raise invalid_parameters("Missing required field 'instance_ids'.")
    ids = body["instance_ids"]
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise invalid_parameters("'instance_ids' must be a non-empty list of instance ids.")
    return list(ids)
