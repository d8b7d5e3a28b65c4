"""Decoding recorded Lambda replies, and the launch body, against the OpenAPI spec v1.8.3."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from openapi_schema_validator import OAS31Validator, validate

from lambda_gui.cloud import wire
from lambda_gui.core.errors import APIUnavailableError, InvalidParametersError
from lambda_gui.core.models import Region
from tests.cloud.recorded import load, spec

SPEC = spec()


def conforms(value: Any, schema_name: str) -> None:
    """Fail unless `value` validates against the spec's component schema."""
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": SPEC["components"]}
    validate(value, schema, cls=OAS31Validator)


@pytest.mark.parametrize(
    ("fixture", "schema"),
    [
        ("instance.json", "Instance"),
        ("terminate.json", "InstanceTerminateResponse"),
        ("restart.json", "InstanceRestartResponse"),
        ("launch.json", "InstanceLaunchResponse"),
        ("generated-ssh-key.json", "GeneratedSSHKey"),
        ("empty.json", "EmptyResponse"),
    ],
)
def test_recorded_replies_follow_the_spec(fixture: str, schema: str) -> None:
    conforms(load(fixture)["data"], schema)


@pytest.mark.parametrize(
    ("fixture", "schema"),
    [("ssh-keys.json", "SSHKey"), ("file-systems.json", "Filesystem"), ("images.json", "Image")],
)
def test_recorded_lists_follow_the_spec(fixture: str, schema: str) -> None:
    for item in load(fixture)["data"]:
        conforms(item, schema)


def test_instance_types_decode_specs_prices_and_regions() -> None:
    types = wire.decode_instance_types(wire.unwrap_data(load("instance-types.json")))
    assert set(types) == {"gpu_1x_gh200", "gpu_8x_h100_sxm5", "gpu_1x_a10"}
    gh200 = types["gpu_1x_gh200"]
    assert gh200.instance_type == wire.InstanceTypeSpec(
        name="gpu_1x_gh200",
        description="1x GH200 (96 GB)",
        gpu_description="GH200 (96 GB)",
        price_cents_per_hour=149,
        vcpus=64,
        memory_gib=432,
        storage_gib=4096,
        gpus=1,
    )
    assert gh200.regions_with_capacity_available == (Region("us-west-1", "California, USA"),)
    assert gh200.available and gh200.regions == gh200.regions_with_capacity_available
    # An empty region list means no capacity anywhere right now.
    assert not types["gpu_8x_h100_sxm5"].available
    # Unknown fields are ignored; a missing description (as in the spec's own example) is "".
    a10 = types["gpu_1x_a10"]
    assert a10.instance_type.description == ""
    assert [r.name for r in a10.regions_with_capacity_available] == ["us-east-1", "us-west-1"]
    assert a10.regions_with_capacity_available[1].description == ""


def test_instance_decodes_every_field_of_the_spec_example() -> None:
    inst = wire.decode_instance(wire.unwrap_data(load("instance.json")))
    assert inst.id == "0920582c7ff041399e34823a0be62549"
    assert inst.name == "My Instance"
    assert (inst.ip, inst.private_ip) == ("198.51.100.2", "10.0.2.100")
    assert inst.status == "active" and inst.is_billing
    assert inst.ssh_key_names == ("My SSH key",)
    assert inst.file_system_names == ("my-filesystem",)
    assert inst.file_system_mounts == (
        wire.FileSystemMount("/lambda/nfs/my-filesystem", "a098b0c7ff041399e34823a0be62549"),
    )
    assert inst.region == Region("us-west-1", "California, USA")
    assert inst.instance_type.name == "gpu_8x_a100" and inst.instance_type.gpus == 8
    assert inst.hostname == "198.51.100.2"
    assert inst.jupyter_token == "03b7d30d9d3e4d8fa41657bc0d478c1b"
    assert inst.jupyter_url is not None and inst.jupyter_url.startswith("https://jupyter-")
    assert inst.is_reserved is False
    assert inst.actions is not None and inst.actions.terminate == wire.ActionAvailability(True)
    assert inst.tags == (wire.Tag("key1", "value1"), wire.Tag("key2", "value2"))
    assert inst.ssh_port == 22
    # The Jupyter token is a credential: keep it out of logs that print the instance.
    assert "03b7d30d" not in repr(inst)


def test_booting_instance_has_no_ip_and_simulator_instance_has_its_port() -> None:
    active, booting, sim = wire.decode_instances(wire.unwrap_data(load("instances.json")))
    assert active.status == "active"
    assert booting.status == "booting" and booting.ip is None and booting.hostname is None
    assert booting.is_billing and booting.tags == () and booting.is_reserved is None
    assert booting.region.name == "us-east-1"
    assert sim.ssh_port == 40222 and sim.ip == "127.0.0.1" and sim.actions is None


def test_terminated_and_restarted_replies() -> None:
    (terminated,) = wire.decode_terminated(wire.unwrap_data(load("terminate.json")))
    assert terminated.status == "terminating" and terminated.is_billing is False
    (restarted,) = wire.decode_restarted(wire.unwrap_data(load("restart.json")))
    assert restarted.id == "0920582c7ff041399e34823a0be62549"


def test_ssh_keys_file_systems_images_and_launch() -> None:
    (key,) = wire.decode_ssh_keys(wire.unwrap_data(load("ssh-keys.json")))
    assert key.name == "my-public-key" and key.public_key.startswith("ssh-ed25519 ")
    generated = wire.decode_generated_ssh_key(wire.unwrap_data(load("generated-ssh-key.json")))
    assert generated.private_key.startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert "PRIVATE KEY" not in repr(generated)
    (fs,) = wire.decode_file_systems(wire.unwrap_data(load("file-systems.json")))
    assert fs.name == "my-filesystem" and fs.is_in_use is False and fs.bytes_used == 2147483648
    assert fs.created_by is not None and fs.created_by.email == "me@example.com"
    (image,) = wire.decode_images(wire.unwrap_data(load("images.json")))
    assert (image.family, image.architecture, image.region.name) == (
        "ubuntu-lts",
        "x86_64",
        "us-west-1",
    )
    assert wire.decode_launch(wire.unwrap_data(load("launch.json"))) == [
        "0920582c7ff041399e34823a0be62549"
    ]


@pytest.mark.parametrize("field", ["id", "status", "region", "instance_type", "ssh_key_names"])
def test_missing_required_instance_field_is_a_clear_error(field: str) -> None:
    data = copy.deepcopy(load("instance.json")["data"])
    del data[field]
    with pytest.raises(wire.UnexpectedReplyError) as info:
        wire.decode_instance(data)
    assert isinstance(info.value, APIUnavailableError)
    text = str(info.value)
    assert text.startswith("unexpected reply from Lambda:")
    assert f"missing '{field}'" in text


def test_missing_nested_field_names_where_it_is_missing() -> None:
    data = copy.deepcopy(load("instance-types.json")["data"])
    del data["gpu_1x_gh200"]["instance_type"]["specs"]["gpus"]
    with pytest.raises(wire.UnexpectedReplyError, match=r"gpu_1x_gh200.*specs is missing 'gpus'"):
        wire.decode_instance_types(data)


def test_wrong_types_are_refused() -> None:
    data = copy.deepcopy(load("instance.json")["data"])
    data["instance_type"]["price_cents_per_hour"] = "1032"
    with pytest.raises(wire.UnexpectedReplyError, match="price_cents_per_hour"):
        wire.decode_instance(data)
    with pytest.raises(wire.UnexpectedReplyError, match="not a list"):
        wire.decode_instances({"not": "a list"})
    with pytest.raises(wire.UnexpectedReplyError, match="missing 'data'"):
        wire.unwrap_data({"error": None})


def test_launch_request_body_matches_the_spec() -> None:
    req = wire.LaunchRequest(
        region_name="us-west-1",
        instance_type_name="gpu_1x_a10",
        ssh_key_names=("lambda-gui",),
        name="lambda-gui-job42",
        hostname="job42",
        file_system_names=("my-filesystem",),
        file_system_mounts=(wire.FileSystemMount("/data/ds", "398578a2336b49079e74043f0bd2cfe8"),),
        image=wire.ImageByFamily("lambda-stack-22-04"),
        user_data="#cloud-config\n",
        tags=(wire.Tag("lambda-gui:job", "42"),),
        firewall_ruleset_ids=("c4d291f47f9d436fa39f58493ce3b50d",),
    )
    body = req.to_json()
    conforms(body, "InstanceLaunchRequest")
    assert body["ssh_key_names"] == ["lambda-gui"]
    assert body["image"] == {"family": "lambda-stack-22-04"}
    assert body["tags"] == [{"key": "lambda-gui:job", "value": "42"}]
    assert "#cloud-config" not in repr(req)


def test_minimal_launch_request_leaves_optional_fields_out() -> None:
    body = wire.LaunchRequest(
        region_name="us-east-1",
        instance_type_name="gpu_1x_a10",
        ssh_key_names=("k",),
        image=wire.ImageById("43336648-096d-4cba-9aa2-f9bb7727639d"),
    ).to_json()
    conforms(body, "InstanceLaunchRequest")
    assert body == {
        "region_name": "us-east-1",
        "instance_type_name": "gpu_1x_a10",
        "ssh_key_names": ["k"],
        "image": {"id": "43336648-096d-4cba-9aa2-f9bb7727639d"},
    }


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"ssh_key_names": ()}, "exactly one SSH key"),
        ({"ssh_key_names": ("a", "b")}, "exactly one SSH key"),
        ({"name": "x" * 65}, "allows 64"),
        ({"hostname": "Bad_Host"}, "Hostname"),
        ({"tags": (wire.Tag("Key", "v"),)}, "Tag"),
        ({"region_name": ""}, "region"),
        ({"file_system_mounts": (wire.FileSystemMount("/etc", "x"),)}, "Mount point"),
    ],
)
def test_launch_request_refuses_what_lambda_would_refuse(
    changes: dict[str, Any], match: str
) -> None:
    fields: dict[str, Any] = {
        "region_name": "us-east-1",
        "instance_type_name": "gpu_1x_a10",
        "ssh_key_names": ("k",),
    }
    fields.update(changes)
    with pytest.raises(InvalidParametersError, match=match):
        wire.LaunchRequest(**fields)
