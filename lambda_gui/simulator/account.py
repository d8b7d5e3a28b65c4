"""The account's books: keys, file systems, instances and capacity, with the API's rules for
changing them. Synchronous and free of I/O; the machines behind instances live elsewhere."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncssh

from lambda_gui.simulator import api_errors
from lambda_gui.simulator.api_errors import ApiError, invalid_parameters
from lambda_gui.simulator.catalog import (
    DEFAULT_CAPACITY,
    REGIONS,
    build_images,
    load_instance_types,
    region_json,
)
from lambda_gui.simulator.launch_request import LaunchRequest
from lambda_gui.simulator.records import FilesystemRecord, InstanceRecord, SSHKeyRecord

_USER_ID = uuid.uuid4().hex
_USER_EMAIL = "simulator@localhost"


def new_id() -> str:
    """A Lambda-style 32-hex-digit id."""
    return uuid.uuid4().hex


class Account:
    """Everything the API reads and writes."""

    def __init__(self, capacity: dict[tuple[str, str], int] | None, quota: int | None) -> None:
        self.instance_types = load_instance_types()
        self.images = build_images()
        self.capacity: dict[tuple[str, str], int] = dict(
            DEFAULT_CAPACITY if capacity is None else capacity
        )
        self.quota = quota
        self.active = True
        self.ssh_keys: dict[str, SSHKeyRecord] = {}
        self.filesystems: dict[str, FilesystemRecord] = {}
        self.instances: dict[str, InstanceRecord] = {}

    # --- instance types -------------------------------------------------------------

    def set_capacity(self, type_name: str, region: str, n: int) -> None:
        """How many more instances of a type the region can start."""
        if type_name not in self.instance_types:
            raise KeyError(f"unknown instance type {type_name!r}")
        if region not in REGIONS:
            raise KeyError(f"unknown region {region!r}")
        self.capacity[(type_name, region)] = max(0, n)

    def instance_types_json(self) -> dict[str, Any]:
        """The spec's InstanceTypes map."""
        return {
            name: {
                "instance_type": info.to_json(),
                "regions_with_capacity_available": [
                    region_json(r) for r in REGIONS if self.capacity.get((name, r), 0) > 0
                ],
            }
            for name, info in self.instance_types.items()
        }

    # --- SSH keys ---------------------------------------------------------------------

    def key_by_name(self, name: str) -> SSHKeyRecord | None:
        """The key registered under a name, if any."""
        return next((k for k in self.ssh_keys.values() if k.name == name), None)

    def add_ssh_key(self, name: Any, public_key: Any) -> tuple[SSHKeyRecord, str | None]:
        """Register a key; without a public key, generate a pair and return the private half."""
        if not isinstance(name, str) or not 1 <= len(name) <= 64:
            raise invalid_parameters("'name' must be a string of 1 to 64 characters.")
        if self.key_by_name(name) is not None:
            raise invalid_parameters(
                f"An SSH key named {name!r} already exists.", "Choose a different name."
            )
        private_text: str | None = None
        if public_key is None:
            private = asyncssh.generate_private_key("ssh-rsa", key_size=2048)
            private_text = private.export_private_key("pkcs1-pem").decode()
            public_key = private.export_public_key("openssh").decode().strip()
        elif not isinstance(public_key, str) or not 1 <= len(public_key) <= 4096:
            raise invalid_parameters("'public_key' must be a string of 1 to 4096 characters.")
        else:
            try:
                asyncssh.import_public_key(public_key)
            except (asyncssh.KeyImportError, ValueError) as exc:
                raise invalid_parameters(
                    "'public_key' is not a valid SSH public key.",
                    "Paste the one line from your .pub file.",
                ) from exc
            public_key = public_key.strip()
        record = SSHKeyRecord(id=new_id(), name=name, public_key=public_key)
        self.ssh_keys[record.id] = record
        return record, private_text

    def delete_ssh_key(self, key_id: str) -> None:
        """Forget a key (instances launched with it keep working)."""
        if self.ssh_keys.pop(key_id, None) is None:
            raise invalid_parameters(f"SSH key {key_id!r} does not exist.")

    # --- file systems -----------------------------------------------------------------

    def filesystem_in_use(self, fs: FilesystemRecord) -> bool:
        """Whether an instance that is not terminated mounts it."""
        return any(
            fs.name in i.file_system_names
            for i in self.instances.values()
            if i.status != "terminated"
        )

    def create_filesystem(self, name: str, region: str) -> FilesystemRecord:
        """A new, empty file system."""
        if region not in REGIONS:
            raise invalid_parameters(f"File systems are not available in region {region!r}.")
        if any(f.name == name for f in self.filesystems.values()):
            raise ApiError(
                400,
                "global/duplicate",
                f"A filesystem named {name!r} already exists.",
                "Choose a different name.",
            )
        created = datetime.now(UTC).isoformat(timespec="milliseconds")
        fs = FilesystemRecord(new_id(), name, region, created, _USER_ID, _USER_EMAIL)
        self.filesystems[fs.id] = fs
        return fs

    def delete_filesystem(self, fs_id: str) -> None:
        """Delete a file system no instance mounts."""
        fs = self.filesystems.get(fs_id)
        if fs is None:
            raise ApiError(404, "global/object-does-not-exist", "Filesystem was not found.")
        if self.filesystem_in_use(fs):
            raise ApiError(
                400,
                "filesystems/filesystem-in-use",
                f"Filesystem {fs.name!r} is mounted to an instance.",
                "Terminate the instances using it, then try again.",
            )
        del self.filesystems[fs_id]

    # --- instances --------------------------------------------------------------------

    def visible_instances(self) -> list[InstanceRecord]:
        """Instances GET /instances lists, oldest first."""
        return list(self.instances.values())

    def lookup(self, instance_id: str) -> InstanceRecord:
        """An instance the API still knows, or the spec's 404."""
        record = self.instances.get(instance_id)
        if record is None:
            raise api_errors.instance_not_found()
        return record

    def holding_count(self) -> int:
        """Instances that count against the quota."""
        return sum(1 for i in self.instances.values() if i.holds_capacity)

    def admit_launch(self, req: LaunchRequest, homes: Path) -> InstanceRecord:
        """Look up every name in a launch, check quota and capacity, and book the instance."""
        if req.region_name not in REGIONS:
            raise invalid_parameters(
                f"Region {req.region_name!r} is not available.",
                "Use a region listed by GET /instance-types.",
            )
        info = self.instance_types.get(req.instance_type_name)
        if info is None:
            raise invalid_parameters(
                f"Invalid instance type {req.instance_type_name!r}.",
                "Use an instance type name listed by GET /instance-types.",
            )
        key = self.key_by_name(req.ssh_key_name)
        if key is None:
            raise invalid_parameters(
                f"SSH key {req.ssh_key_name!r} does not exist.",
                "Add the key with POST /ssh-keys, or pass the name of a key you have.",
            )
        mounts = self._resolve_filesystems(req)
        self._resolve_image(req)
        if req.firewall_ruleset_ids:
            raise api_errors.launch_resource_not_found(
                f"Firewall ruleset {req.firewall_ruleset_ids[0]!r} does not exist."
            )
        if self.quota is not None and self.holding_count() >= self.quota:
            raise api_errors.quota_exceeded()
        slot = (info.name, req.region_name)
        if self.capacity.get(slot, 0) <= 0:
            raise api_errors.insufficient_capacity()
        self.capacity[slot] -= 1
        instance_id = new_id()
        record = InstanceRecord(
            id=instance_id,
            instance_type=info,
            region=req.region_name,
            ssh_key_name=key.name,
            public_key=key.public_key,
            home=homes / instance_id / "home",
            name=req.name,
            hostname=req.hostname,
            file_system_names=[m[0] for m in mounts],
            file_system_mounts=[{"mount_point": m[1], "file_system_id": m[2]} for m in mounts],
            tags=list(req.tags),
            user_data=req.user_data,
        )
        self.instances[instance_id] = record
        return record

    def _resolve_filesystems(self, req: LaunchRequest) -> list[tuple[str, str, str]]:
        """(name, mount point, id) of each file system the launch mounts."""
        by_name = {f.name: f for f in self.filesystems.values()}
        chosen: dict[str, tuple[FilesystemRecord, str]] = {}
        for name in req.file_system_names:
            fs = by_name.get(name)
            if fs is None:
                raise api_errors.launch_resource_not_found(f"Filesystem {name!r} does not exist.")
            chosen[fs.id] = (fs, fs.mount_point)
        for mount in req.file_system_mounts:
            fs_by_id = self.filesystems.get(mount["file_system_id"])
            if fs_by_id is None:
                raise api_errors.launch_resource_not_found(
                    f"Filesystem {mount['file_system_id']!r} does not exist."
                )
            chosen[fs_by_id.id] = (fs_by_id, mount["mount_point"])
        for fs, _ in chosen.values():
            if fs.region != req.region_name:
                raise ApiError(
                    400,
                    "instance-operations/launch/file-system-in-wrong-region",
                    f"Filesystem {fs.name!r} is in {fs.region}, not {req.region_name}.",
                    "Launch in the file system's region, or leave the file system out.",
                )
        return [(fs.name, point, fs.id) for fs, point in chosen.values()]

    def _resolve_image(self, req: LaunchRequest) -> None:
        if req.image is None:
            return
        in_region = [i for i in self.images if i["region"]["name"] == req.region_name]
        if "id" in req.image:
            found = any(i["id"] == req.image["id"] for i in in_region)
            what = f"Image {req.image['id']!r}"
        else:
            found = any(i["family"] == req.image["family"] for i in in_region)
            what = f"Image family {req.image['family']!r}"
        if not found:
            raise api_errors.launch_resource_not_found(
                f"{what} does not exist in {req.region_name}."
            )

    def end(self, record: InstanceRecord, status: str) -> None:
        """Move an instance to terminated or preempted, giving its machine back to the region."""
        record.status = status
        record.ended_at = time.monotonic()
        if record.holds_capacity:
            record.holds_capacity = False
            slot = (record.instance_type.name, record.region)
            self.capacity[slot] = self.capacity.get(slot, 0) + 1
