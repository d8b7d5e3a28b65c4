"""Lambda Cloud API wire format (OpenAPI v1.8.3): frozen dataclasses and pure decoders.

Decoders accept parsed JSON and ignore fields they do not know (Lambda adds fields over time).
A reply whose overall shape is wrong raises UnexpectedResponseError. In a list, one item that
cannot be read (another tool's instance, a new kind of instance type) is left out and reported
in the result's `skipped`, never failing the whole list: the rest is still true and needed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from lambda_gui.core.errors import InvalidParametersError, UnexpectedResponseError
from lambda_gui.core.models import Region

T = TypeVar("T")

# Statuses in which Lambda bills the instance (docs/architecture.md#lambda-cloud-facts).
BILLING_STATUSES = frozenset({"booting", "active", "unhealthy"})
GONE_STATUSES = frozenset({"terminated", "preempted"})

_NAME_MAX = 64
TAG_KEY_MAX = 55
TAG_VALUE_MAX = 128
_TAG_KEY_RE = re.compile(r"^[a-z][a-z0-9-:]+$")

_SHAPE_SUGGESTION = (
    "Check the API address in Settings; if it is Lambda's, a newer version of this app may "
    "be needed."
)


def _bad(where: str, problem: str) -> UnexpectedResponseError:
    detail = f"{where} {problem}"
    return UnexpectedResponseError(
        f"Lambda Cloud sent a reply this app cannot read: {detail}.",
        detail=detail,
        suggestion=_SHAPE_SUGGESTION,
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


def _str_tuple(obj: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    items = _list(_require(obj, key, where), f"{where}.{key}")
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise _bad(f"{where}.{key}[{i}]", "is not a string")
    return tuple(items)


def _opt_str_tuple(obj: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    """A list the spec requires but nothing here relies on: absent reads as empty."""
    if obj.get(key) is None:
        return ()
    return _str_tuple(obj, key, where)


# --- lists that survive an odd item --------------------------------------------------------


@dataclass(frozen=True)
class SkippedItem:
    """A list item that could not be read and was left out of the list, and why."""

    kind: str
    reason: str
    id: str | None = None
    name: str | None = None

    def __str__(self) -> str:
        if self.name and self.id and self.name != self.id:
            label = f"{self.name!r} (id {self.id})"
        elif self.name or self.id:
            label = repr(self.name or self.id)
        else:
            label = "without an id"
        return f"{self.kind} {label} could not be read: {self.reason}"


class DecodedList(list[T]):
    """The items of a list reply that could be read; `skipped` holds the ones that could not."""

    def __init__(self, items: Iterable[T] = (), skipped: Iterable[SkippedItem] = ()) -> None:
        super().__init__(items)
        self.skipped: tuple[SkippedItem, ...] = tuple(skipped)


class DecodedMap(dict[str, T]):
    """The entries of a map reply that could be read; `skipped` holds the ones that could not."""

    def __init__(
        self, entries: Mapping[str, T] | None = None, skipped: Iterable[SkippedItem] = ()
    ) -> None:
        super().__init__(entries or {})
        self.skipped: tuple[SkippedItem, ...] = tuple(skipped)


def _identity(raw: object) -> tuple[str | None, str | None]:
    """The id and name of a raw item, where readable, so a skipped item can be named."""
    if not isinstance(raw, Mapping):
        return None, None
    ident, name = raw.get("id"), raw.get("name")
    return (ident if isinstance(ident, str) else None, name if isinstance(name, str) else None)


def _decode_items(
    data: object, where: str, kind: str, decode: Callable[[object, str], T]
) -> DecodedList[T]:
    good: list[T] = []
    skipped: list[SkippedItem] = []
    for i, raw in enumerate(_list(data, where)):
        try:
            good.append(decode(raw, f"{where}[{i}]"))
        except UnexpectedResponseError as exc:
            skipped.append(SkippedItem(kind, exc.detail, *_identity(raw)))
    return DecodedList(good, skipped)


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
    def regions(self) -> tuple[Region, ...]:
        """Short name for regions_with_capacity_available."""
        return self.regions_with_capacity_available


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
    region: Region
    instance_type: InstanceTypeSpec
    ssh_key_names: tuple[str, ...] = ()
    file_system_names: tuple[str, ...] = ()
    name: str | None = None
    ip: str | None = None
    actions: InstanceActions | None = None
    tags: tuple[Tag, ...] = ()
    # The simulator serves every instance's sshd on its own port; the real API has no such field.
    ssh_port: int = 22

    @property
    def is_billing(self) -> bool:
        """True while Lambda bills this instance."""
        return self.status in BILLING_STATUSES

    def has_tag(self, key: str, value: str) -> bool:
        """True when the instance carries the tag key=value."""
        return Tag(key, value) in self.tags


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
    """A persistent file system in one region (it bills per GiB-month even when idle)."""

    id: str
    name: str
    mount_point: str
    created: str
    created_by: User | None
    is_in_use: bool
    region: Region
    bytes_used: int | None = None


@dataclass(frozen=True)
class ImageById:
    """Launch a specific image by its id."""

    id: str


@dataclass(frozen=True)
class ImageByFamily:
    """Launch the newest image of a family (e.g. "lambda-stack-22-04")."""

    family: str


def validate_tag(key: str, value: str) -> None:
    """Raise InvalidParametersError (a ValueError) saying why, unless Lambda accepts key=value."""
    if not isinstance(key, str) or not isinstance(value, str):
        raise InvalidParametersError(f"Tag {key!r}={value!r}: key and value must be text.")
    if len(key) > TAG_KEY_MAX:
        raise InvalidParametersError(
            f"Tag key {key!r} is {len(key)} characters; Lambda allows at most {TAG_KEY_MAX}."
        )
    if not _TAG_KEY_RE.match(key):
        raise InvalidParametersError(
            f"Tag key {key!r} is not allowed: use at least 2 characters, lowercase letters, "
            "digits, '-' or ':', starting with a letter (e.g. 'lambda-gui:job')."
        )
    if len(value) > TAG_VALUE_MAX:
        raise InvalidParametersError(
            f"The value of tag {key!r} is {len(value)} characters; Lambda allows at most "
            f"{TAG_VALUE_MAX}."
        )


@dataclass(frozen=True, kw_only=True)
class LaunchRequest:
    """The body of POST /instance-operations/launch, validated against the spec's limits."""

    region_name: str
    instance_type_name: str
    ssh_key_names: tuple[str, ...]
    name: str | None = None
    file_system_names: tuple[str, ...] = ()
    image: ImageById | ImageByFamily | None = None
    user_data: str | None = field(default=None, repr=False)
    tags: tuple[Tag, ...] = ()

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
        for tag in self.tags:
            validate_tag(tag.key, tag.value)

    def to_json(self) -> dict[str, Any]:
        """The request body, with optional fields left out when unset."""
        body: dict[str, Any] = {
            "region_name": self.region_name,
            "instance_type_name": self.instance_type_name,
            "ssh_key_names": list(self.ssh_key_names),
        }
        if self.name is not None:
            body["name"] = self.name
        if self.file_system_names:
            body["file_system_names"] = list(self.file_system_names)
        if isinstance(self.image, ImageById):
            body["image"] = {"id": self.image.id}
        elif isinstance(self.image, ImageByFamily):
            body["image"] = {"family": self.image.family}
        if self.user_data is not None:
            body["user_data"] = self.user_data
        if self.tags:
            body["tags"] = [{"key": t.key, "value": t.value} for t in self.tags]
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


def decode_instance_type(
    value: object, where: str = "instance_type", *, lenient_specs: bool = False
) -> InstanceTypeSpec:
    """An InstanceType object (with its nested specs); `lenient_specs`: odd specs read as 0."""
    # Lenient for the type embedded in an instance: nothing reads its specs there, and leaving
    # out the instance (which may be billing) would be worse. Strict for the catalog, whose
    # specs are shown and planned on.
    obj = _obj(value, where)
    sw = f"{where}.specs"
    if lenient_specs:
        raw = obj.get("specs")
        specs: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        gpu = obj.get("gpu_description")
        gpu_description = gpu if isinstance(gpu, str) else ""
    else:
        specs = _obj(_require(obj, "specs", where), sw)
        gpu_description = _str(obj, "gpu_description", where)

    def spec(key: str) -> int:
        number = specs.get(key)
        if lenient_specs and (isinstance(number, bool) or not isinstance(number, int)):
            return 0
        return _int(specs, key, sw)

    return InstanceTypeSpec(
        name=_str(obj, "name", where),
        description=_opt_str(obj, "description", where) or "",
        gpu_description=gpu_description,
        price_cents_per_hour=_int(obj, "price_cents_per_hour", where),
        vcpus=spec("vcpus"),
        memory_gib=spec("memory_gib"),
        storage_gib=spec("storage_gib"),
        gpus=spec("gpus"),
    )


def _decode_availability(value: object, where: str) -> InstanceTypeAvailability:
    obj = _obj(value, where)
    regions = _list(
        _require(obj, "regions_with_capacity_available", where),
        f"{where}.regions_with_capacity_available",
    )
    return InstanceTypeAvailability(
        instance_type=decode_instance_type(
            _require(obj, "instance_type", where), f"{where}.instance_type"
        ),
        regions_with_capacity_available=tuple(
            decode_region(r, f"{where}.regions_with_capacity_available[{i}]")
            for i, r in enumerate(regions)
        ),
    )


def decode_instance_types(data: object) -> DecodedMap[InstanceTypeAvailability]:
    """The data of GET /instance-types: name -> availability; odd entries go to `skipped`."""
    types = _obj(data, "instance types")
    result: dict[str, InstanceTypeAvailability] = {}
    skipped: list[SkippedItem] = []
    for key, item in types.items():
        try:
            result[key] = _decode_availability(item, f"instance type '{key}'")
        except UnexpectedResponseError as exc:
            skipped.append(SkippedItem("instance type", exc.detail, name=key))
    return DecodedMap(result, skipped)


def _decode_actions(value: object) -> InstanceActions | None:
    """The actions block, or None (not known) when it is malformed: it only drives buttons."""
    if not isinstance(value, Mapping):
        return None
    found: dict[str, ActionAvailability] = {}
    for key in ("migrate", "rebuild", "restart", "cold_reboot", "terminate"):
        action = value.get(key)
        if not isinstance(action, Mapping) or not isinstance(action.get("available"), bool):
            continue
        code, why = action.get("reason_code"), action.get("reason_description")
        found[key] = ActionAvailability(
            available=action["available"],
            reason_code=code if isinstance(code, str) else None,
            reason_description=why if isinstance(why, str) else None,
        )
    return InstanceActions(**found)


def _decode_tags(value: object) -> tuple[Tag, ...]:
    """The well-formed entries of a tags list."""
    # An odd entry is dropped rather than the instance, which may be billing: keep it visible.
    if not isinstance(value, list):
        return ()
    return tuple(
        Tag(t["key"], t["value"])
        for t in value
        if isinstance(t, Mapping)
        and isinstance(t.get("key"), str)
        and isinstance(t.get("value"), str)
    )


def decode_instance(value: object, where: str = "instance") -> Instance:
    """An Instance; needs id, status, region, type name and price, reads other absences as empty."""
    obj = _obj(value, where)
    ssh_port = _opt_int(obj, "ssh_port", where)
    return Instance(
        id=_str(obj, "id", where),
        status=_str(obj, "status", where),
        region=decode_region(_require(obj, "region", where), f"{where}.region"),
        instance_type=decode_instance_type(
            _require(obj, "instance_type", where), f"{where}.instance_type", lenient_specs=True
        ),
        ssh_key_names=_opt_str_tuple(obj, "ssh_key_names", where),
        file_system_names=_opt_str_tuple(obj, "file_system_names", where),
        name=_opt_str(obj, "name", where),
        ip=_opt_str(obj, "ip", where),
        actions=_decode_actions(obj.get("actions")),
        tags=_decode_tags(obj.get("tags")),
        ssh_port=22 if ssh_port is None else ssh_port,
    )


def decode_instances(data: object) -> DecodedList[Instance]:
    """The data of GET /instances; an instance that cannot be read is listed in `skipped`."""
    return _decode_items(data, "instances", "instance", decode_instance)


def decode_launch(data: object) -> list[str]:
    """The data of POST /instance-operations/launch: the new instance ids."""
    return list(_str_tuple(_obj(data, "launch reply"), "instance_ids", "launch reply"))


def decode_terminated(data: object) -> DecodedList[Instance]:
    """The data of POST /instance-operations/terminate."""
    obj = _obj(data, "terminate reply")
    items = _require(obj, "terminated_instances", "terminate reply")
    return _decode_items(items, "terminated_instances", "instance", decode_instance)


def decode_ssh_key(value: object, where: str = "ssh key") -> SSHKey:
    """An SSHKey object."""
    obj = _obj(value, where)
    return SSHKey(
        id=_str(obj, "id", where),
        name=_str(obj, "name", where),
        public_key=_str(obj, "public_key", where),
    )


def decode_ssh_keys(data: object) -> DecodedList[SSHKey]:
    """The data of GET /ssh-keys; a key that cannot be read is listed in `skipped`."""
    return _decode_items(data, "ssh_keys", "SSH key", decode_ssh_key)


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


def decode_file_systems(data: object) -> DecodedList[FileSystem]:
    """The data of GET /file-systems; a file system that cannot be read goes to `skipped`."""
    # A skipped file system still bills: a caller summing costs must say the sum is partial.
    return _decode_items(data, "file_systems", "file system", decode_file_system)
