"""Every endpoint's success and error replies, over plain HTTP. The `sim` fixture checks each
reply against the OpenAPI spec, so these tests also prove the shapes."""

from __future__ import annotations

import base64
import io
from typing import Any

import paramiko
import pytest

from tests.simulator.helpers import DEFAULT_REGION, DEFAULT_TYPE, call, get_instance, launch

PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICN+lJwsONkwrdsSnQsu1ydUkIuIg5oOC+Eslvmtt60T t"


def error_code(reply: Any) -> str:
    code: str = reply["error"]["code"]
    return code


# --- authentication and account ----------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        lambda key: f"Bearer {key}",
        lambda key: "Basic " + base64.b64encode(f"{key}:".encode()).decode(),
        lambda key: f"Basic {key}",
    ],
    ids=["bearer", "basic-key-as-user", "basic-raw-key"],
)
async def test_api_key_accepted_in_every_documented_form(sim: Any, header: Any) -> None:
    status, reply = await call(
        sim, "GET", "/instances", headers={"Authorization": header(sim.api_key)}
    )
    assert status == 200 and reply == {"data": []}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Token x"},
        {"Authorization": "Basic Og=="},
    ],
    ids=["missing", "wrong-key", "other-scheme", "basic-empty-user"],
)
async def test_bad_api_key_is_401(sim: Any, headers: dict[str, str]) -> None:
    status, reply = await call(sim, "GET", "/instance-types", headers=headers)
    assert status == 401
    assert error_code(reply) == "global/invalid-api-key"
    assert reply["error"]["suggestion"]


async def test_inactive_account_is_403_everywhere_until_reactivated(sim: Any) -> None:
    sim.set_account_inactive(True)
    for method, path in [("GET", "/instances"), ("GET", "/ssh-keys"), ("GET", "/images")]:
        status, reply = await call(sim, method, path)
        assert status == 403 and error_code(reply) == "global/account-inactive"
    status, reply = await call(
        sim,
        "POST",
        "/instance-operations/launch",
        {"region_name": DEFAULT_REGION, "instance_type_name": DEFAULT_TYPE, "ssh_key_names": ["x"]},
    )
    assert status == 403 and error_code(reply) == "global/account-inactive"
    sim.set_account_inactive(False)
    assert (await call(sim, "GET", "/instances"))[0] == 200


# --- instance types, images, firewall ------------------------------------------------------


async def test_instance_types_come_from_the_bundled_catalog(sim: Any) -> None:
    status, reply = await call(sim, "GET", "/instance-types")
    assert status == 200
    a10 = reply["data"]["gpu_1x_a10"]
    assert a10["instance_type"] == {
        "name": "gpu_1x_a10",
        "description": "1x A10 (24 GB PCIe)",
        "gpu_description": "A10 (24 GB PCIe)",
        "price_cents_per_hour": 129,
        "specs": {"vcpus": 30, "memory_gib": 200, "storage_gib": 1400, "gpus": 1},
    }
    assert {"name": "us-east-1", "description": "Virginia, USA"} in a10[
        "regions_with_capacity_available"
    ]
    sold_out = [
        n for n, item in reply["data"].items() if not item["regions_with_capacity_available"]
    ]
    assert sold_out, "some types should have no capacity anywhere, as on Lambda"


async def test_images_listed_per_region(sim: Any) -> None:
    status, reply = await call(sim, "GET", "/images")
    assert status == 200
    families = {(i["family"], i["region"]["name"]) for i in reply["data"]}
    assert ("lambda-stack-22-04", "us-east-1") in families


async def test_firewall_rules_read_and_replace(sim: Any) -> None:
    status, reply = await call(sim, "GET", "/firewall-rules")
    assert status == 200 and reply["data"][0]["port_range"] == [22, 22]
    rules = [
        {
            "protocol": "tcp",
            "port_range": [22, 22],
            "source_network": "1.2.3.4/32",
            "description": "me",
        },
        {"protocol": "icmp", "source_network": "0.0.0.0/0", "description": "ping"},
    ]
    status, reply = await call(sim, "PUT", "/firewall-rules", {"data": rules})
    assert status == 200 and reply["data"] == rules
    assert (await call(sim, "GET", "/firewall-rules"))[1]["data"] == rules
    bad = [
        {"protocol": "icmp", "port_range": [1, 2], "source_network": "0.0.0.0/0", "description": ""}
    ]
    status, reply = await call(sim, "PUT", "/firewall-rules", {"data": bad})
    assert status == 400 and error_code(reply) == "global/invalid-parameters"


# --- SSH keys ---------------------------------------------------------------------------------


async def test_ssh_key_add_list_delete(sim: Any) -> None:
    status, reply = await call(
        sim, "POST", "/ssh-keys", {"name": "laptop", "public_key": PUBLIC_KEY}
    )
    assert status == 200
    key = reply["data"]
    assert key["name"] == "laptop" and key["public_key"] == PUBLIC_KEY and "private_key" not in key
    listed = (await call(sim, "GET", "/ssh-keys"))[1]["data"]
    assert {k["name"] for k in listed} == {sim.test_key_name, "laptop"}
    status, reply = await call(sim, "DELETE", f"/ssh-keys/{key['id']}")
    assert status == 200 and reply == {"data": {}}
    assert "laptop" not in {k["name"] for k in (await call(sim, "GET", "/ssh-keys"))[1]["data"]}


async def test_ssh_key_generated_when_public_key_omitted(sim: Any) -> None:
    status, reply = await call(sim, "POST", "/ssh-keys", {"name": "generated"})
    assert status == 200
    private = reply["data"]["private_key"]
    loaded = paramiko.RSAKey.from_private_key(io.StringIO(private))
    assert reply["data"]["public_key"].split()[1] == loaded.get_base64()


@pytest.mark.parametrize(
    "body",
    [
        {"public_key": PUBLIC_KEY},
        {"name": "", "public_key": PUBLIC_KEY},
        {"name": "x" * 65, "public_key": PUBLIC_KEY},
        {"name": "bad", "public_key": "not a key"},
        {"name": "dup", "public_key": PUBLIC_KEY},
    ],
    ids=["no-name", "empty-name", "long-name", "garbage-key", "duplicate-name"],
)
async def test_ssh_key_invalid_requests_are_400(sim: Any, body: dict[str, Any]) -> None:
    if body.get("name") == "dup":
        assert (await call(sim, "POST", "/ssh-keys", body))[0] == 200
    status, reply = await call(sim, "POST", "/ssh-keys", body)
    assert status == 400 and error_code(reply) == "global/invalid-parameters"


async def test_deleting_unknown_ssh_key_is_400_as_the_spec_says(sim: Any) -> None:
    status, reply = await call(sim, "DELETE", "/ssh-keys/0123456789abcdef0123456789abcdef")
    assert status == 400 and error_code(reply) == "global/invalid-parameters"


async def test_malformed_json_body_is_400(sim: Any) -> None:
    status, reply = await call(sim, "POST", "/ssh-keys", raw=b"{not json")
    assert status == 400 and error_code(reply) == "global/invalid-parameters"


# --- file systems -----------------------------------------------------------------------------


async def test_filesystem_create_list_delete(sim: Any) -> None:
    status, reply = await call(
        sim, "POST", "/filesystems", {"name": "data-1", "region": "us-east-1"}
    )
    assert status == 200
    fs = reply["data"]
    assert fs["mount_point"] == "/lambda/nfs/data-1" and fs["is_in_use"] is False
    assert [f["id"] for f in (await call(sim, "GET", "/file-systems"))[1]["data"]] == [fs["id"]]
    status, reply = await call(
        sim, "POST", "/filesystems", {"name": "data-1", "region": "us-east-1"}
    )
    assert status == 400 and error_code(reply) == "global/duplicate"
    status, reply = await call(sim, "DELETE", f"/filesystems/{fs['id']}")
    assert status == 200 and reply == {"data": {"deleted_ids": [fs["id"]]}}
    status, reply = await call(sim, "DELETE", f"/filesystems/{fs['id']}")
    assert status == 404 and error_code(reply) == "global/object-does-not-exist"


@pytest.mark.parametrize(
    "body",
    [{"name": "1abc", "region": "us-east-1"}, {"name": "ok", "region": "mars-1"}, {"name": "ok"}],
    ids=["name-starts-with-digit", "bad-region", "no-region"],
)
async def test_filesystem_invalid_create_is_400(sim: Any, body: dict[str, Any]) -> None:
    status, reply = await call(sim, "POST", "/filesystems", body)
    assert status == 400 and error_code(reply) == "global/invalid-parameters"


async def test_filesystem_in_use_cannot_be_deleted(sim: Any) -> None:
    fs = (await call(sim, "POST", "/filesystems", {"name": "shared", "region": DEFAULT_REGION}))[1]
    instance_id = await launch(sim, sim.test_key_name, file_system_names=["shared"])
    data = await get_instance(sim, instance_id)
    assert data["file_system_names"] == ["shared"]
    assert data["file_system_mounts"] == [
        {"mount_point": "/lambda/nfs/shared", "file_system_id": fs["data"]["id"]}
    ]
    listed = (await call(sim, "GET", "/file-systems"))[1]["data"]
    assert listed[0]["is_in_use"] is True
    status, reply = await call(sim, "DELETE", f"/filesystems/{fs['data']['id']}")
    assert status == 400 and error_code(reply) == "filesystems/filesystem-in-use"


# --- instances: launch validation ---------------------------------------------------------------


def _launch_body(key: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "region_name": DEFAULT_REGION,
        "instance_type_name": DEFAULT_TYPE,
        "ssh_key_names": [key],
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


@pytest.mark.parametrize(
    "fields",
    [
        {"ssh_key_names": []},
        {"ssh_key_names": ["a", "b"]},
        {"ssh_key_names": ["nobody-has-this-key"]},
        {"ssh_key_names": None},
        {"instance_type_name": "gpu_9x_imaginary"},
        {"instance_type_name": None},
        {"region_name": "mars-north-1"},
        {"region_name": "us-east-3"},
        {"name": "n" * 65},
        {"hostname": "Bad_Host"},
        {"user_data": "#!/bin/sh\n" + "x" * (1024 * 1024)},
        {"tags": [{"key": "Upper", "value": "v"}]},
        {"tags": [{"key": "k" * 56, "value": "v"}]},
        {"tags": [{"key": "k", "value": "v"}]},
        {"tags": [{"key": "job", "value": "v" * 129}]},
        {"tags": [{"key": "job"}]},
        {"tags": {"job": "42"}},
        {"image": {"name": "x"}},
    ],
    ids=[
        "no-key",
        "two-keys",
        "unknown-key",
        "missing-keys",
        "unknown-type",
        "missing-type",
        "not-a-region",
        "region-not-served",
        "long-name",
        "bad-hostname",
        "user-data-over-1mb",
        "bad-tag-key",
        "tag-key-over-55",
        "tag-key-one-char",
        "tag-value-over-128",
        "tag-without-value",
        "tags-not-a-list",
        "bad-image-spec",
    ],
)
async def test_invalid_launch_is_400_and_creates_nothing(sim: Any, fields: dict[str, Any]) -> None:
    body = _launch_body(sim.test_key_name, **fields)
    for key in [k for k, v in fields.items() if v is None]:
        body.pop(key, None)
    status, reply = await call(sim, "POST", "/instance-operations/launch", body)
    assert status == 400 and error_code(reply) == "global/invalid-parameters", reply
    assert (await call(sim, "GET", "/instances"))[1]["data"] == []


@pytest.mark.parametrize(
    "fields",
    [
        {"file_system_names": ["no-such-fs"]},
        {"image": {"family": "windows-95"}},
        {"image": {"id": "00000000-0000-0000-0000-000000000000"}},
        {"firewall_rulesets": [{"id": "c4d291f47f9d436fa39f58493ce3b50d"}]},
    ],
    ids=["unknown-filesystem", "unknown-image-family", "unknown-image-id", "unknown-ruleset"],
)
async def test_launch_naming_missing_resource_is_404(sim: Any, fields: dict[str, Any]) -> None:
    status, reply = await call(
        sim, "POST", "/instance-operations/launch", _launch_body(sim.test_key_name, **fields)
    )
    assert status == 404 and error_code(reply) == "global/object-does-not-exist"
    assert reply["error"]["suggestion"]


async def test_launch_with_filesystem_in_other_region_is_400(sim: Any) -> None:
    await call(sim, "POST", "/filesystems", {"name": "far", "region": "us-west-1"})
    status, reply = await call(
        sim,
        "POST",
        "/instance-operations/launch",
        _launch_body(sim.test_key_name, file_system_names=["far"]),
    )
    assert status == 400
    assert error_code(reply) == "instance-operations/launch/file-system-in-wrong-region"


async def test_launch_accepts_known_image_and_tags(sim: Any) -> None:
    instance_id = await launch(
        sim,
        sim.test_key_name,
        name="tagged",
        image={"family": "lambda-stack-22-04"},
        tags=[{"key": "job", "value": "42"}, {"key": "a" * 55, "value": "v" * 128}],
        hostname="trainer-1",
    )
    data = await get_instance(sim, instance_id)
    assert data["name"] == "tagged"
    assert data["tags"] == [{"key": "job", "value": "42"}, {"key": "a" * 55, "value": "v" * 128}]
    listed = (await call(sim, "GET", "/instances"))[1]["data"]
    assert [i["tags"] for i in listed] == [data["tags"]]
    assert data["instance_type"]["name"] == DEFAULT_TYPE
    assert data["region"] == {"name": DEFAULT_REGION, "description": "Virginia, USA"}


async def test_capacity_runs_out_then_insufficient_capacity(sim: Any) -> None:
    sim.set_capacity(DEFAULT_TYPE, DEFAULT_REGION, 1)
    await launch(sim, sim.test_key_name)
    status, reply = await call(
        sim, "POST", "/instance-operations/launch", _launch_body(sim.test_key_name)
    )
    assert status == 400
    assert error_code(reply) == "instance-operations/launch/insufficient-capacity"
    types = (await call(sim, "GET", "/instance-types"))[1]["data"]
    regions = [r["name"] for r in types[DEFAULT_TYPE]["regions_with_capacity_available"]]
    assert DEFAULT_REGION not in regions


async def test_quota_exceeded(sim: Any) -> None:
    sim.set_quota(1)
    await launch(sim, sim.test_key_name)
    status, reply = await call(
        sim, "POST", "/instance-operations/launch", _launch_body(sim.test_key_name)
    )
    assert status == 400 and error_code(reply) == "global/quota-exceeded"


# --- instances: get, rename, restart, terminate errors -------------------------------------------

UNKNOWN_ID = "0123456789abcdef0123456789abcdef"


async def test_unknown_instance_is_404_everywhere(sim: Any) -> None:
    for method, path, body in [
        ("GET", f"/instances/{UNKNOWN_ID}", None),
        ("POST", f"/instances/{UNKNOWN_ID}", {"name": "x"}),
        ("POST", "/instance-operations/restart", {"instance_ids": [UNKNOWN_ID]}),
        ("POST", "/instance-operations/terminate", {"instance_ids": [UNKNOWN_ID]}),
    ]:
        status, reply = await call(sim, method, path, body)
        assert status == 404, (method, path)
        assert error_code(reply) == "global/object-does-not-exist"


async def test_rename_instance(sim: Any) -> None:
    instance_id = await launch(sim, sim.test_key_name, name="before")
    status, reply = await call(sim, "POST", f"/instances/{instance_id}", {"name": "after"})
    assert status == 200 and reply["data"]["name"] == "after"
    assert (await get_instance(sim, instance_id))["name"] == "after"
    status, reply = await call(sim, "POST", f"/instances/{instance_id}", {"name": "z" * 65})
    assert status == 400 and error_code(reply) == "global/invalid-parameters"


async def test_terminate_body_without_ids_is_400(sim: Any) -> None:
    status, reply = await call(sim, "POST", "/instance-operations/terminate", {"ids": ["x"]})
    assert status == 400 and error_code(reply) == "global/invalid-parameters"


async def test_every_reply_was_validated(sim: Any) -> None:
    """The fixture's validator really sees the replies (so the spec checks cannot be idle)."""
    await call(sim, "GET", "/instances")
    await call(sim, "GET", "/instances/nope")
    validator = sim.config.validate_response
    assert validator.checked == 2 and validator.violations == []
