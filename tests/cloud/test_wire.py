"""Decoding recorded Lambda replies, and the launch body, against the OpenAPI spec v1.8.3."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from openapi_schema_validator import OAS31Validator, validate

from lambda_gui.cloud import wire
from lambda_gui.core.errors import (
    APIUnavailableError,
    InvalidParametersError,
    LambdaAPIError,
    UnexpectedResponseError,
)
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
        ("launch.json", "InstanceLaunchResponse"),
        ("generated-ssh-key.json", "GeneratedSSHKey"),
        ("empty.json", "EmptyResponse"),
    ],
)
def test_recorded_replies_follow_the_spec(fixture: str, schema: str) -> None:
    conforms(load(fixture)["data"], schema)


@pytest.mark.parametrize(
    ("fixture", "schema"),
    [("ssh-keys.json", "SSHKey"), ("file-systems.json", "Filesystem")],
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
    assert gh200.regions == gh200.regions_with_capacity_available
    # An empty region list means no capacity anywhere right now.
    assert not types["gpu_8x_h100_sxm5"].regions
    assert types.skipped == ()
    # Unknown fields are ignored; a missing description (as in the spec's own example) is "".
    a10 = types["gpu_1x_a10"]
    assert a10.instance_type.description == ""
    assert [r.name for r in a10.regions_with_capacity_available] == ["us-east-1", "us-west-1"]
    assert a10.regions_with_capacity_available[1].description == ""


def test_instance_decodes_every_field_of_the_spec_example() -> None:
    inst = wire.decode_instance(wire.unwrap_data(load("instance.json")))
    assert inst.id == "0920582c7ff041399e34823a0be62549"
    assert inst.name == "My Instance"
    assert inst.ip == "198.51.100.2"
    assert inst.status == "active" and inst.is_billing
    assert inst.ssh_key_names == ("My SSH key",)
    assert inst.file_system_names == ("my-filesystem",)
    assert inst.region == Region("us-west-1", "California, USA")
    assert inst.instance_type.name == "gpu_8x_a100" and inst.instance_type.gpus == 8
    assert inst.instance_type.memory_gib == 1800
    assert inst.actions is not None and inst.actions.terminate == wire.ActionAvailability(True)
    assert inst.tags == (wire.Tag("key1", "value1"), wire.Tag("key2", "value2"))
    assert inst.has_tag("key2", "value2") and not inst.has_tag("key2", "value1")
    assert inst.ssh_port == 22
    # The Jupyter token is a credential; the app does not read it, so it is not even kept.
    assert "03b7d30d" not in repr(inst)


def test_booting_instance_has_no_ip_and_simulator_instance_has_its_port() -> None:
    active, booting, sim = wire.decode_instances(wire.unwrap_data(load("instances.json")))
    assert active.status == "active"
    assert booting.status == "booting" and booting.ip is None
    assert booting.is_billing and booting.tags == ()
    assert booting.region.name == "us-east-1"
    assert sim.ssh_port == 40222 and sim.ip == "127.0.0.1" and sim.actions is None


def test_terminated_reply() -> None:
    (terminated,) = wire.decode_terminated(wire.unwrap_data(load("terminate.json")))
    assert terminated.status == "terminating" and terminated.is_billing is False


def test_ssh_keys_file_systems_and_launch() -> None:
    (key,) = wire.decode_ssh_keys(wire.unwrap_data(load("ssh-keys.json")))
    assert key.name == "my-public-key" and key.public_key.startswith("ssh-ed25519 ")
    generated = wire.decode_generated_ssh_key(wire.unwrap_data(load("generated-ssh-key.json")))
    assert generated.private_key.startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert "PRIVATE KEY" not in repr(generated)
    (fs,) = wire.decode_file_systems(wire.unwrap_data(load("file-systems.json")))
    assert fs.name == "my-filesystem" and fs.is_in_use is False and fs.bytes_used == 2147483648
    assert fs.created_by is not None and fs.created_by.email == "me@example.com"
    assert wire.decode_launch(wire.unwrap_data(load("launch.json"))) == [
        "0920582c7ff041399e34823a0be62549"
    ]


@pytest.mark.parametrize("field", ["id", "status", "region", "instance_type"])
def test_missing_required_instance_field_is_a_clear_error(field: str) -> None:
    data = copy.deepcopy(load("instance.json")["data"])
    del data[field]
    with pytest.raises(UnexpectedResponseError) as info:
        wire.decode_instance(data)
    text = str(info.value)
    assert text.startswith("Lambda Cloud sent a reply this app cannot read:")
    assert f"missing '{field}'" in text
    assert "API address" in text and "newer version" in text
    assert info.value.detail == f"instance is missing '{field}'"


def test_shape_errors_are_not_unavailable_errors() -> None:
    """'Lambda unreachable' makes the app queue jobs and poll forever; a reply of the wrong
    shape will not fix itself, so it must be a different error."""
    with pytest.raises(UnexpectedResponseError) as info:
        wire.decode_instances({"not": "a list"})
    assert not isinstance(info.value, APIUnavailableError)
    assert not isinstance(info.value, ConnectionError)
    assert isinstance(info.value, LambdaAPIError) and isinstance(info.value, RuntimeError)


def test_missing_nested_field_names_where_it_is_missing() -> None:
    data = copy.deepcopy(load("instance-types.json")["data"])
    del data["gpu_1x_gh200"]["instance_type"]["specs"]["gpus"]
    types = wire.decode_instance_types(data)
    (skipped,) = types.skipped
    assert skipped.reason == "instance type 'gpu_1x_gh200'.instance_type.specs is missing 'gpus'"


def test_wrong_types_are_refused() -> None:
    data = copy.deepcopy(load("instance.json")["data"])
    data["instance_type"]["price_cents_per_hour"] = "1032"
    with pytest.raises(UnexpectedResponseError, match="price_cents_per_hour"):
        wire.decode_instance(data)
    with pytest.raises(UnexpectedResponseError, match="not a list"):
        wire.decode_instances({"not": "a list"})
    with pytest.raises(UnexpectedResponseError, match="missing 'data'"):
        wire.unwrap_data({"error": None})


# --- one odd item never fails a list -------------------------------------------------------


def _instances() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = copy.deepcopy(load("instances.json")["data"])
    return data


def test_an_unreadable_instance_is_skipped_and_reported_not_the_whole_list() -> None:
    data = _instances()
    del data[0]["status"]  # another tool's instance, as an odd server might send it
    data[2]["ip"] = 127001
    instances = wire.decode_instances(data)
    assert [i.name for i in instances] == ["lambda-gui-job42"]
    first, third = instances.skipped
    assert (first.kind, first.id, first.name) == (
        "instance",
        "0920582c7ff041399e34823a0be62549",
        "My Instance",
    )
    assert first.reason == "instances[0] is missing 'status'"
    assert str(first) == (
        "instance 'My Instance' (id 0920582c7ff041399e34823a0be62549) could not be read: "
        "instances[0] is missing 'status'"
    )
    assert "expected a string" in third.reason and "'ip'" in third.reason


def test_an_instance_whose_type_lacks_hardware_specs_is_still_listed() -> None:
    """Nothing reads an instance's specs, and the instance may be billing: keep it."""
    data = _instances()
    specs = data[1]["instance_type"]["specs"]
    del specs["memory_gib"]
    specs["vcpus"] = "many"
    del data[1]["instance_type"]["gpu_description"]
    del data[1]["ssh_key_names"]
    del data[1]["file_system_names"]
    instances = wire.decode_instances(data)
    assert instances.skipped == ()
    job = instances[1]
    assert job.name == "lambda-gui-job42" and job.is_billing
    assert (job.instance_type.memory_gib, job.instance_type.vcpus) == (0, 0)
    assert job.instance_type.price_cents_per_hour > 0
    assert (job.ssh_key_names, job.file_system_names) == ((), ())


def test_an_instance_without_a_price_is_skipped() -> None:
    """The price is shown as the cost of a running instance: no safe default."""
    data = _instances()
    del data[1]["instance_type"]["price_cents_per_hour"]
    instances = wire.decode_instances(data)
    assert "lambda-gui-job42" not in [i.name for i in instances]
    (skipped,) = instances.skipped
    assert skipped.name == "lambda-gui-job42" and "price_cents_per_hour" in skipped.reason


def test_unknown_fields_and_odd_optional_blocks_are_tolerated() -> None:
    data = _instances()
    data[0]["something_new"] = {"nested": [1, 2]}
    data[0]["actions"] = "all of them"
    data[0]["tags"] = [{"key": "key1", "value": "value1"}, {"key": 5}, "x"]
    data[1]["actions"] = {"terminate": {"available": "yes"}, "restart": {"available": False}}
    instances = wire.decode_instances(data)
    assert instances.skipped == ()
    assert instances[0].actions is None
    assert instances[0].tags == (wire.Tag("key1", "value1"),)
    actions = instances[1].actions
    assert actions is not None and actions.terminate is None
    assert actions.restart == wire.ActionAvailability(False)


def test_a_non_object_item_is_skipped_without_an_id() -> None:
    data: list[Any] = [*_instances(), "garbage"]
    instances = wire.decode_instances(data)
    assert len(instances) == 3
    (skipped,) = instances.skipped
    assert skipped.id is None and skipped.name is None
    assert (
        str(skipped)
        == "instance without an id could not be read: instances[3] is str, not an object"
    )


def test_an_odd_instance_type_is_skipped_not_the_catalog() -> None:
    data = copy.deepcopy(load("instance-types.json")["data"])
    del data["gpu_1x_gh200"]["instance_type"]["specs"]["memory_gib"]
    data["gpu_9x_future"] = {"instance_type": {"name": "gpu_9x_future"}}
    types = wire.decode_instance_types(data)
    assert set(types) == {"gpu_8x_h100_sxm5", "gpu_1x_a10"}
    assert [(s.kind, s.name) for s in types.skipped] == [
        ("instance type", "gpu_1x_gh200"),
        ("instance type", "gpu_9x_future"),
    ]
    assert "specs is missing 'memory_gib'" in types.skipped[0].reason
    assert "missing 'regions_with_capacity_available'" in types.skipped[1].reason


def test_odd_ssh_keys_and_file_systems_are_skipped() -> None:
    keys: list[Any] = [*load("ssh-keys.json")["data"], {"id": "k2", "name": "other-tool"}]
    decoded_keys = wire.decode_ssh_keys(keys)
    assert [k.name for k in decoded_keys] == ["my-public-key"]
    assert [(s.kind, s.id, s.name) for s in decoded_keys.skipped] == [
        ("SSH key", "k2", "other-tool")
    ]
    systems: list[Any] = copy.deepcopy(load("file-systems.json")["data"])
    odd = copy.deepcopy(systems[0])
    odd["id"], odd["name"], odd["is_in_use"] = "fs2", "odd-fs", "no"
    decoded = wire.decode_file_systems([odd, *systems])
    assert [f.name for f in decoded] == ["my-filesystem"]
    (skipped,) = decoded.skipped
    assert skipped.name == "odd-fs" and "is_in_use" in skipped.reason


def test_a_list_reply_that_is_not_a_list_still_fails_as_a_whole() -> None:
    with pytest.raises(UnexpectedResponseError, match="ssh_keys is dict, not a list"):
        wire.decode_ssh_keys({"data": []})


# --- launch body and tags --------------------------------------------------------------------


def test_launch_request_body_matches_the_spec() -> None:
    req = wire.LaunchRequest(
        region_name="us-west-1",
        instance_type_name="gpu_1x_a10",
        ssh_key_names=("lambda-gui",),
        name="lambda-gui-job42",
        file_system_names=("my-filesystem",),
        image=wire.ImageByFamily("lambda-stack-22-04"),
        user_data="#cloud-config\n",
        tags=(wire.Tag("lambda-gui:job", "42"), wire.Tag("lambda-gui", "")),
    )
    body = req.to_json()
    conforms(body, "InstanceLaunchRequest")
    assert body["ssh_key_names"] == ["lambda-gui"]
    assert body["image"] == {"family": "lambda-stack-22-04"}
    assert body["tags"] == [
        {"key": "lambda-gui:job", "value": "42"},
        {"key": "lambda-gui", "value": ""},
    ]
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
        ({"tags": (wire.Tag("Key", "v"),)}, "Tag key 'Key' is not allowed"),
        ({"region_name": ""}, "region"),
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


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("lambda-gui:job", "42"),
        ("ab", ""),
        ("a" * 55, "v" * 128),
        ("k-1:x", "Any text, even UPPER case & spaces"),
    ],
)
def test_tags_lambda_accepts(key: str, value: str) -> None:
    wire.validate_tag(key, value)
    conforms({"key": key, "value": value}, "RequestedTagEntry")


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("a", "v", "at least 2 characters"),
        ("Job", "v", "lowercase"),
        ("1job", "v", "starting with a letter"),
        ("job_id", "v", "not allowed"),
        ("", "v", "not allowed"),
        ("a" * 56, "v", "56 characters; Lambda allows at most 55"),
        ("job", "v" * 129, "value of tag 'job' is 129 characters; Lambda allows at most 128"),
    ],
)
def test_tags_lambda_refuses_are_a_clear_value_error(key: str, value: str, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        wire.validate_tag(key, value)
    assert isinstance(info.value, InvalidParametersError)
    # The spec agrees that these are refused.
    with pytest.raises(Exception, match="does not match|is too long"):
        conforms({"key": key, "value": value}, "RequestedTagEntry")
