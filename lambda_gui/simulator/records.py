"""What the simulated account holds (SSH keys, file systems and instances, and their JSON), and
the log of the API requests it answered."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambda_gui.simulator.catalog import InstanceTypeInfo, region_json

LOOPBACK = "127.0.0.1"


@dataclass
class SSHKeyRecord:
    """A registered public key."""

    id: str
    name: str
    public_key: str

    def to_json(self) -> dict[str, str]:
        """The spec's SSHKey object."""
        return {"id": self.id, "name": self.name, "public_key": self.public_key}


@dataclass
class FilesystemRecord:
    """A shared file system (API only: nothing is mounted in the sandboxes)."""

    id: str
    name: str
    region: str
    created: str
    user_id: str
    user_email: str

    @property
    def mount_point(self) -> str:
        """Where Lambda mounts it by default."""
        return f"/lambda/nfs/{self.name}"

    def to_json(self, in_use: bool) -> dict[str, Any]:
        """The spec's Filesystem object."""
        return {
            "id": self.id,
            "name": self.name,
            "mount_point": self.mount_point,
            "created": self.created,
            "created_by": {"id": self.user_id, "email": self.user_email, "status": "active"},
            "is_in_use": in_use,
            "region": region_json(self.region),
            "bytes_used": 0,
        }


@dataclass
class InstanceRecord:
    """One instance as the API reports it, plus where its sandbox and SSH server live."""

    id: str
    instance_type: InstanceTypeInfo
    region: str
    ssh_key_name: str
    public_key: str
    home: Path
    name: str | None = None
    hostname: str | None = None
    file_system_names: list[str] = field(default_factory=list)
    file_system_mounts: list[dict[str, str]] = field(default_factory=list)
    tags: list[dict[str, str]] = field(default_factory=list)
    user_data: str | None = None
    status: str = "booting"
    ip_assigned: bool = False
    ssh_port: int = 0
    #: True from launch until terminated or preempted: it uses capacity and counts to quota.
    holds_capacity: bool = True
    ended_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The spec's Instance object, plus "ssh_port" (the simulator's own field)."""
        data: dict[str, Any] = {"id": self.id}
        if self.name is not None:
            data["name"] = self.name
        if self.ip_assigned:
            data["ip"] = LOOPBACK
            data["private_ip"] = LOOPBACK
        data["status"] = self.status
        data["ssh_key_names"] = [self.ssh_key_name]
        data["file_system_names"] = list(self.file_system_names)
        if self.file_system_mounts:
            data["file_system_mounts"] = [dict(m) for m in self.file_system_mounts]
        data["region"] = region_json(self.region)
        data["instance_type"] = self.instance_type.to_json()
        if self.ip_assigned:
            data["hostname"] = self.hostname or LOOPBACK.replace(".", "-")
        data["actions"] = _actions(self.status)
        data["tags"] = [dict(t) for t in self.tags]
        if self.ip_assigned and self.ssh_port:
            data["ssh_port"] = self.ssh_port
        return data


def _actions(status: str) -> dict[str, dict[str, Any]]:
    """The spec's InstanceActionAvailability for a status."""

    def blocked(code: str, why: str) -> dict[str, Any]:
        return {"available": False, "reason_code": code, "reason_description": why}

    names = ("migrate", "rebuild", "restart", "cold_reboot", "terminate")
    if status in ("active", "unhealthy"):
        return {n: {"available": True} for n in names}
    if status == "booting":
        actions = {
            n: blocked("vm-has-not-launched", "The instance has not finished launching.")
            for n in names
        }
        actions["terminate"] = {"available": True}
        return actions
    if status == "preempted":
        actions = {n: blocked("vm-is-preempted", "The instance was preempted.") for n in names}
        actions["terminate"] = {"available": True}
        return actions
    return {n: blocked("vm-is-terminating", "The instance is terminating.") for n in names}


@dataclass
class RequestRecord:
    """One API request as the simulator saw it. status 0: no reply was sent."""

    t: float
    method: str
    path: str
    status: int
    fault: str | None = None
