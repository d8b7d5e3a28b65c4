"""Lambda Cloud API wire format (OpenAPI v1.8.3): frozen dataclasses and pure decoders.

Decoders accept parsed JSON, ignore fields they do not know (Lambda adds fields over time) and
refuse a reply that lacks a field the app relies on, with a message naming it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lambda_gui.core.errors import APIUnavailableError, InvalidParametersError
from lambda_gui.core.models import Region

# Statuses in which Lambda bills the instance (design.md §5).
BILLING_STATUSES = frozenset({"booting", "active", "unhealthy"})
GONE_STATUSES = frozenset({"terminated", "preempted"})

_NAME_MAX = 64
_HOSTNAME_RE = re.compile(r"^[a-z0-9][0-9a-z-]{0,62}$")
_TAG_KEY_RE = re.compile(r"^[a-z][a-z0-9-:]+$")
_MOUNT_RE = re.compile(r"^(/home|/lambda/nfs|/data)[//a-zA-Z0-9-]*$")


class UnexpectedReplyError(APIUnavailableError):
    """Lambda answered with JSON that lacks a field the app needs, or has the wrong type."""


def _bad(where: str, problem: str) -> UnexpectedReplyError:
    return UnexpectedReplyError(
        f"unexpected reply from Lambda: {where} {problem}. "
        "The API may have changed; try again, and update the app if this persists."
    )


# --- field readers -------------------------------------------------------------------------


def _obj(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _bad(where, f"is {type(value).__name__}, not an object")
    return value


def _list(value: object, where: str) -> Sequence[Any]:
    if not isinstance(value, list):
        raise _bad(where, f"is {type(value).__name__}, not a list")
    return value


def _require(obj: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in obj or obj[key] is None:
        raise _bad(where, f"is missing '{key}'")
    return obj[key]


def _str(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = _require(obj, key, where)
    if not isinstance(value, str):
        raise _bad(where, f"has '{key}' of type {type(value).__name__}, expected a string")
    return value


def _int(obj: Mapping[str, Any], key: str, where: str) -> int:
    value = _require(obj, key, where)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(where, f"has '{key}' of type {type(value).__name__}, expected an integer")
    return value


def _bool(obj: Mapping[str, Any], key: str, where: str) -> bool:
    value = _require(obj, key, where)
    if not isinstance(value, bool):
        raise _bad(where, f"has '{key}' of type {type(value).__name__}, expected true/false")
    return value


def _opt_str(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    if obj.get(key) is None:
        return None
    return _str(obj, key, where)


def _opt_int(obj: Mapping[str, Any], key: str, where: str) -> int | None:
    if obj.get(key) is None:
        return None
    return _int(obj, key, where)


def _opt_bool(obj: Mapping[str, Any], key: str, where: str) -> bool | None:
    if obj.get(key) is None:
        return None
    return _bool(obj, key, where)


def _str_tuple(obj: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    items = _list(_require(obj, key, where), f"{where}.{key}")
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise _bad(f"{where}.{key}[{i}]", "is not a string")
    return tuple(items)


# --- objects -------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstanceTypeSpec:
    """An instance type: name, GPU, price in US cents per hour and hardware specs."""

    name: str
    description: str
    gpu_description: str
    price_cents_per_hour: int
    vcpus: int
    memory_gib: int
    storage_gib: int
    gpus: int


@dataclass(frozen=True)
class InstanceTypeAvailability:
    """One entry of GET /instance-types: the type and the regions with capacity right now."""

    instance_type: InstanceTypeSpec
    regions_with_capacity_available: tuple[Region, ...]

    @property
    def available(self) -> bool:
        """True when at least one region reports capacity (a launch can still fail)."""
        return bool(self.regions_with_capacity_available)

    @property
    def regions(self) -> tuple[Region, ...]:
        """Short name for regions_with_capacity_available."""
        return self.regions_with_capacity_available


@dataclass(frozen=True)
class FileSystemMount:
    """Where a file system is mounted on an instance."""

    mount_point: str
    file_system_id: str


@dataclass(frozen=True)
class Tag:
    """A key/value tag on an instance."""

    key: str
    value: str


@dataclass(frozen=True)
class ActionAvailability:
    """Whether one instance action (restart, terminate, ...) is possible now, and why not."""

    available: bool
    reason_code: str | None = None
    reason_description: str | None = None


@dataclass(frozen=True)
class InstanceActions:
    """The actions block of an instance."""

    migrate: ActionAvailability | None = None
    rebuild: ActionAvailability | None = None
    restart: ActionAvailability | None = None
    cold_reboot: ActionAvailability | None = None
    terminate: ActionAvailability | None = None


@dataclass(frozen=True, kw_only=True)
class Instance:
    """An instance as GET /instances returns it; `ip` is None while it boots."""

    id: str
    status: str
    ssh_key_names: tuple[str, ...]
    file_system_names: tuple[str, ...]
    region: Region
    instance_type: InstanceTypeSpec
    name: str | None = None
    ip: str | None = None
    private_ip: str | None = None
    file_system_mounts: tuple[FileSystemMount, ...] = ()
    hostname: str | None = None
    jupyter_token: str | None = field(default=None, repr=False)
    jupyter_url: str | None = field(default=None, repr=False)
    is_reserved: bool | None = None
    actions: InstanceActions | None = None
    tags: tuple[Tag, ...] = ()
    firewall_ruleset_ids: tuple[str, ...] = ()
    # The simulator serves every instance's sshd on its own port; the real API has no such field.
    ssh_port: int = 22

    @property
    def is_billing(self) -> bool:
        """True while Lambda bills this instance."""
        return self.status in BILLING_STATUSES


@dataclass(frozen=True)
class SSHKey:
    """An SSH public key registered with Lambda."""

    id: str
    name: str
    public_key: str


@dataclass(frozen=True)
class GeneratedSSHKey(SSHKey):
    """A key pair Lambda generated; the private key is returned once and never shown in repr."""

    private_key: str = field(default="", repr=False)


@dataclass(frozen=True)
class User:
    """The account user that created a file system."""

    id: str
    email: str
    status: str


@dataclass(frozen=True, kw_only=True)
class FileSystem:
    """A persistent file system in one region."""

    id: str
    name: str
    mount_point: str
    created: str
    created_by: User | None
    is_in_use: bool
    region: Region
    bytes_used: int | None = None


@dataclass(frozen=True, kw_only=True)
class Image:
    """A machine image that can be launched."""

    id: str
    created_time: str
    updated_time: str
    name: str
    description: str
    family: str
    version: str
    architecture: str
    region: Region


@dataclass(frozen=True)
class ImageById:
    """Launch a specific image by its id."""

    id: str


@dataclass(frozen=True)
class ImageByFamily:
    """Launch the newest image of a family (e.g. "lambda-stack-22-04")."""

    family: str


@dataclass(frozen=True, kw_only=True)
class LaunchRequest:
    """The body of POST /instance-operations/launch, validated against the spec's limits."""

    region_name: str
    instance_type_name: str
    ssh_key_names: tuple[str, ...]
    name: str | None = None
    hostname: str | None = None
    file_system_names: tuple[str, ...] = ()
    file_system_mounts: tuple[FileSystemMount, ...] = ()
    image: ImageById | ImageByFamily | None = None
    user_data: str | None = field(default=None, repr=False)
    tags: tuple[Tag, ...] = ()
    firewall_ruleset_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.region_name:
            raise InvalidParametersError("A launch needs a region; pick one with capacity.")
        if not self.instance_type_name:
            raise InvalidParametersError("A launch needs an instance type; pick one.")
        if len(self.ssh_key_names) != 1 or not self.ssh_key_names[0]:
            raise InvalidParametersError(
                f"Lambda needs exactly one SSH key name per launch, got {len(self.ssh_key_names)}."
            )
        if self.name is not None and len(self.name) > _NAME_MAX:
            raise InvalidParametersError(
                f"Instance name is {len(self.name)} characters; Lambda allows {_NAME_MAX}."
            )
        if self.hostname is not None and not _HOSTNAME_RE.match(self.hostname):
            raise InvalidParametersError(
                "Hostname must be 1-63 lowercase letters, digits or '-', starting with a "
                "letter or digit."
            )
        for tag in self.tags:
            if not _TAG_KEY_RE.match(tag.key) or len(tag.key) > 55 or len(tag.value) > 128:
                raise InvalidParametersError(
                    f"Tag {tag.key!r}: keys are lowercase letters, digits, '-' or ':' "
                    "(start with a letter, at most 55), values at most 128 characters."
                )
        for mount in self.file_system_mounts:
            if not _MOUNT_RE.match(mount.mount_point) or len(mount.mount_point) > 256:
                raise InvalidParametersError(
                    f"Mount point {mount.mount_point!r} must lie under /home, /lambda/nfs or /data."
                )

    def to_json(self) -> dict[str, Any]:
        """The request body, with optional fields left out when unset."""
        body: dict[str, Any] = {
            "region_name": self.region_name,
            "instance_type_name": self.instance_type_name,
            "ssh_key_names": list(self.ssh_key_names),
        }
        if self.name is not None:
            body["name"] = self.name
        if self.hostname is not None:
            body["hostname"] = self.hostname
        if self.file_system_names:
            body["file_system_names"] = list(self.file_system_names)
        if self.file_system_mounts:
            body["file_system_mounts"] = [
                {"mount_point": m.mount_point, "file_system_id": m.file_system_id}
                for m in self.file_system_mounts
            ]
        if isinstance(self.image, ImageById):
            body["image"] = {"id": self.image.id}
        elif isinstance(self.image, ImageByFamily):
            body["image"] = {"family": self.image.family}
        if self.user_data is not None:
            body["user_data"] = self.user_data
        if self.tags:
            body["tags"] = [{"key": t.key, "value": t.value} for t in self.tags]
        if self.firewall_ruleset_ids:
            body["firewall_rulesets"] = [{"id": i} for i in self.firewall_ruleset_ids]
        return body


# --- decoders ------------------------------------------------------------------------------


def unwrap_data(payload: object) -> Any:
    """The `data` member of a success envelope."""
    envelope = _obj(payload, "the reply")
    if "data" not in envelope:
        raise _bad("the reply", "is missing 'data'")
    return envelope["data"]


def decode_region(value: object, where: str = "region") -> Region:
    """A Region; the description is optional in practice (the spec's own example omits it)."""
    obj = _obj(value, where)
    return Region(
        name=_str(obj, "name", where), description=_opt_str(obj, "description", where) or ""
    )


def decode_instance_type(value: object, where: str = "instance_type") -> InstanceTypeSpec:
    """An InstanceType object (with its nested specs)."""
    obj = _obj(value, where)
    specs = _obj(_require(obj, "specs", where), f"{where}.specs")
    sw = f"{where}.specs"
    return InstanceTypeSpec(
        name=_str(obj, "name", where),
        description=_opt_str(obj, "description", where) or "",
        gpu_description=_str(obj, "gpu_description", where),
        price_cents_per_hour=_int(obj, "price_cents_per_hour", where),
        vcpus=_int(specs, "vcpus", sw),
        memory_gib=_int(specs, "memory_gib", sw),
        storage_gib=_int(specs, "storage_gib", sw),
        gpus=_int(specs, "gpus", sw),
    )


def decode_instance_types(data: object) -> dict[str, InstanceTypeAvailability]:
    """The data of GET /instance-types: instance type name -> availability."""
    types = _obj(data, "instance types")
    result: dict[str, InstanceTypeAvailability] = {}
    for key, item in types.items():
        where = f"instance type '{key}'"
        obj = _obj(item, where)
        regions = _list(
            _require(obj, "regions_with_capacity_available", where),
            f"{where}.regions_with_capacity_available",
        )
        result[key] = InstanceTypeAvailability(
            instance_type=decode_instance_type(
                _require(obj, "instance_type", where), f"{where}.instance_type"
            ),
            regions_with_capacity_available=tuple(
                decode_region(r, f"{where}.regions_with_capacity_available[{i}]")
                for i, r in enumerate(regions)
            ),
        )
    return result


def _decode_action(value: object, where: str) -> ActionAvailability:
    obj = _obj(value, where)
    return ActionAvailability(
        available=_bool(obj, "available", where),
        reason_code=_opt_str(obj, "reason_code", where),
        reason_description=_opt_str(obj, "reason_description", where),
    )


def _decode_actions(value: object, where: str) -> InstanceActions:
    obj = _obj(value, where)
    found = {
        key: _decode_action(obj[key], f"{where}.{key}")
        for key in ("migrate", "rebuild", "restart", "cold_reboot", "terminate")
        if obj.get(key) is not None
    }
    return InstanceActions(**found)


def decode_instance(value: object, where: str = "instance") -> Instance:
    """An Instance object; tolerant of missing optional fields and of unknown ones."""
    obj = _obj(value, where)
    if isinstance(obj.get("id"), str):
        where = f"instance '{obj['id']}'"
    mounts = _list(obj.get("file_system_mounts") or [], f"{where}.file_system_mounts")
    tags = _list(obj.get("tags") or [], f"{where}.tags")
    rulesets = _list(obj.get("firewall_rulesets") or [], f"{where}.firewall_rulesets")
    actions = obj.get("actions")
    ssh_port = _opt_int(obj, "ssh_port", where)
    return Instance(
        id=_str(obj, "id", where),
        status=_str(obj, "status", where),
        ssh_key_names=_str_tuple(obj, "ssh_key_names", where),
        file_system_names=_str_tuple(obj, "file_system_names", where),
        region=decode_region(_require(obj, "region", where), f"{where}.region"),
        instance_type=decode_instance_type(
            _require(obj, "instance_type", where), f"{where}.instance_type"
        ),
        name=_opt_str(obj, "name", where),
        ip=_opt_str(obj, "ip", where),
        private_ip=_opt_str(obj, "private_ip", where),
        file_system_mounts=tuple(
            FileSystemMount(
                mount_point=_str(_obj(m, w), "mount_point", w),
                file_system_id=_str(_obj(m, w), "file_system_id", w),
            )
            for i, m in enumerate(mounts)
            for w in (f"{where}.file_system_mounts[{i}]",)
        ),
        hostname=_opt_str(obj, "hostname", where),
        jupyter_token=_opt_str(obj, "jupyter_token", where),
        jupyter_url=_opt_str(obj, "jupyter_url", where),
        is_reserved=_opt_bool(obj, "is_reserved", where),
        actions=None if actions is None else _decode_actions(actions, f"{where}.actions"),
        tags=tuple(
            Tag(key=_str(_obj(t, w), "key", w), value=_str(_obj(t, w), "value", w))
            for i, t in enumerate(tags)
            for w in (f"{where}.tags[{i}]",)
        ),
        firewall_ruleset_ids=tuple(
            _str(_obj(r, w), "id", w)
            for i, r in enumerate(rulesets)
            for w in (f"{where}.firewall_rulesets[{i}]",)
        ),
        ssh_port=22 if ssh_port is None else ssh_port,
    )


def decode_instances(data: object) -> list[Instance]:
    """The data of GET /instances."""
    return [decode_instance(v, f"instances[{i}]") for i, v in enumerate(_list(data, "instances"))]


def decode_launch(data: object) -> list[str]:
    """The data of POST /instance-operations/launch: the new instance ids."""
    return list(_str_tuple(_obj(data, "launch reply"), "instance_ids", "launch reply"))


def decode_terminated(data: object) -> list[Instance]:
    """The data of POST /instance-operations/terminate."""
    obj = _obj(data, "terminate reply")
    items = _list(_require(obj, "terminated_instances", "terminate reply"), "terminated_instances")
    return [decode_instance(v, f"terminated_instances[{i}]") for i, v in enumerate(items)]


def decode_restarted(data: object) -> list[Instance]:
    """The data of POST /instance-operations/restart."""
    obj = _obj(data, "restart reply")
    items = _list(_require(obj, "restarted_instances", "restart reply"), "restarted_instances")
    return [decode_instance(v, f"restarted_instances[{i}]") for i, v in enumerate(items)]


def decode_ssh_key(value: object, where: str = "ssh key") -> SSHKey:
    """An SSHKey object."""
    obj = _obj(value, where)
    return SSHKey(
        id=_str(obj, "id", where),
        name=_str(obj, "name", where),
        public_key=_str(obj, "public_key", where),
    )


def decode_ssh_keys(data: object) -> list[SSHKey]:
    """The data of GET /ssh-keys."""
    return [decode_ssh_key(v, f"ssh_keys[{i}]") for i, v in enumerate(_list(data, "ssh keys"))]


def decode_generated_ssh_key(value: object) -> GeneratedSSHKey:
    """The data of POST /ssh-keys without a public key: the key pair, private half included."""
    where = "generated ssh key"
    obj = _obj(value, where)
    return GeneratedSSHKey(
        id=_str(obj, "id", where),
        name=_str(obj, "name", where),
        public_key=_str(obj, "public_key", where),
        private_key=_str(obj, "private_key", where),
    )


def _decode_user(value: object, where: str) -> User:
    obj = _obj(value, where)
    return User(
        id=_str(obj, "id", where),
        email=_str(obj, "email", where),
        status=_str(obj, "status", where),
    )


def decode_file_system(value: object, where: str = "file system") -> FileSystem:
    """A Filesystem object."""
    obj = _obj(value, where)
    created_by = obj.get("created_by")
    return FileSystem(
        id=_str(obj, "id", where),
        name=_str(obj, "name", where),
        mount_point=_str(obj, "mount_point", where),
        created=_str(obj, "created", where),
        created_by=None if created_by is None else _decode_user(created_by, f"{where}.created_by"),
        is_in_use=_bool(obj, "is_in_use", where),
        region=decode_region(_require(obj, "region", where), f"{where}.region"),
        bytes_used=_opt_int(obj, "bytes_used", where),
    )


def decode_file_systems(data: object) -> list[FileSystem]:
    """The data of GET /file-systems."""
    return [
        decode_file_system(v, f"file_systems[{i}]")
        for i, v in enumerate(_list(data, "file systems"))
    ]


def decode_image(value: object, where: str = "image") -> Image:
    """An Image object."""
    obj = _obj(value, where)
    return Image(
        id=_str(obj, "id", where),
        created_time=_str(obj, "created_time", where),
        updated_time=_str(obj, "updated_time", where),
        name=_str(obj, "name", where),
        description=_opt_str(obj, "description", where) or "",
        family=_str(obj, "family", where),
        version=_str(obj, "version", where),
        architecture=_str(obj, "architecture", where),
        region=decode_region(_require(obj, "region", where), f"{where}.region"),
    )


def decode_images(data: object) -> list[Image]:
    """The data of GET /images."""
    return [decode_image(v, f"images[{i}]") for i, v in enumerate(_list(data, "images"))]
