"""Instance lifecycles: boot, terminate, linger, capacity, preemption, health, restart,
user data."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.simulator.helpers import (
    DEFAULT_REGION,
    DEFAULT_TYPE,
    call,
    connect,
    get_instance,
    launch,
    launch_active,
    pid_alive,
    run,
    wait_status,
)


async def capacity_regions(sim: Any, type_name: str = DEFAULT_TYPE) -> list[str]:
    types = (await call(sim, "GET", "/instance-types"))[1]["data"]
    return [r["name"] for r in types[type_name]["regions_with_capacity_available"]]


async def test_booting_has_no_ip_then_active_has_ip_and_ssh_port(sim: Any) -> None:
    started = time.monotonic()
    instance_id = await launch(sim, sim.test_key_name, name="lifecycle")
    booting = await get_instance(sim, instance_id)
    assert booting["status"] == "booting"
    assert "ip" not in booting and "ssh_port" not in booting
    assert booting["actions"]["terminate"]["available"] is True
    assert booting["actions"]["restart"]["reason_code"] == "vm-has-not-launched"
    active = await wait_status(sim, instance_id, "active")
    assert time.monotonic() - started >= sim.config.boot_seconds
    assert active["ip"] == "127.0.0.1" and active["ssh_port"] == sim.instance_ssh_port(instance_id)
    assert all(a["available"] for a in active["actions"].values())
    listed = (await call(sim, "GET", "/instances"))[1]["data"]
    assert [i["id"] for i in listed] == [instance_id]


async def test_terminate_releases_capacity_and_instance_drops_out(sim: Any) -> None:
    sim.set_capacity(DEFAULT_TYPE, DEFAULT_REGION, 1)
    instance_id, _ = await launch_active(sim)
    assert DEFAULT_REGION not in await capacity_regions(sim)
    status, reply = await call(
        sim, "POST", "/instance-operations/terminate", {"instance_ids": [instance_id]}
    )
    assert status == 200
    assert [i["status"] for i in reply["data"]["terminated_instances"]] == ["terminating"]
    assert reply["data"]["terminated_instances"][0]["actions"]["terminate"]["available"] is False
    await wait_status(sim, instance_id, "terminated")
    assert DEFAULT_REGION in await capacity_regions(sim)
    await asyncio.sleep(sim.config.terminated_linger_seconds + 0.1)
    status, _ = await call(sim, "GET", f"/instances/{instance_id}")
    assert status == 404
    assert (await call(sim, "GET", "/instances"))[1]["data"] == []
    assert sim.instance_home(instance_id).is_dir()


async def test_terminate_while_booting(sim: Any) -> None:
    instance_id = await launch(sim, sim.test_key_name)
    await call(sim, "POST", "/instance-operations/terminate", {"instance_ids": [instance_id]})
    await wait_status(sim, instance_id, "terminated")
    assert "ip" not in await get_instance(sim, instance_id)


async def test_preempted_instance_stops_billing_and_kills_processes(sim: Any) -> None:
    sim.set_capacity(DEFAULT_TYPE, DEFAULT_REGION, 1)
    instance_id, data = await launch_active(sim)
    client = await asyncio.to_thread(connect, data["ssh_port"], sim.test_key_path)
    _, out, _ = await asyncio.to_thread(
        run, client, "setsid nohup sleep 300 > /dev/null 2>&1 & echo $!"
    )
    client.close()
    pid = int(out)
    sim.preempt(instance_id)
    assert (await get_instance(sim, instance_id))["status"] == "preempted"
    assert DEFAULT_REGION in await capacity_regions(sim)
    for _ in range(100):
        if not pid_alive(pid):
            break
        await asyncio.sleep(0.02)
    assert not pid_alive(pid)
    await call(sim, "POST", "/instance-operations/terminate", {"instance_ids": [instance_id]})
    assert (await get_instance(sim, instance_id))["status"] == "terminated"


async def test_unhealthy_and_back(sim: Any) -> None:
    instance_id, _ = await launch_active(sim)
    sim.set_unhealthy(instance_id)
    assert (await get_instance(sim, instance_id))["status"] == "unhealthy"
    sim.set_unhealthy(instance_id, False)
    assert (await get_instance(sim, instance_id))["status"] == "active"


async def test_restart_kills_processes_keeps_port_home_and_host_key(sim: Any) -> None:
    instance_id, data = await launch_active(sim)
    port, host_key = data["ssh_port"], sim.instance_host_key(instance_id)
    client = await asyncio.to_thread(connect, port, sim.test_key_path)
    _, out, _ = await asyncio.to_thread(
        run, client, "echo kept > kept.txt; setsid nohup sleep 300 > /dev/null 2>&1 & echo $!"
    )
    client.close()
    pid = int(out)
    status, reply = await call(
        sim, "POST", "/instance-operations/restart", {"instance_ids": [instance_id]}
    )
    assert status == 200 and reply["data"]["restarted_instances"][0]["id"] == instance_id
    assert (await get_instance(sim, instance_id))["status"] == "booting"
    data = await wait_status(sim, instance_id, "active")
    assert not pid_alive(pid)
    assert data["ssh_port"] == port and sim.instance_host_key(instance_id) == host_key
    client = await asyncio.to_thread(connect, port, sim.test_key_path)
    assert (await asyncio.to_thread(run, client, "cat kept.txt"))[1] == b"kept\n"
    client.close()


async def test_restart_of_terminated_instance_is_404(sim: Any) -> None:
    instance_id, _ = await launch_active(sim)
    await call(sim, "POST", "/instance-operations/terminate", {"instance_ids": [instance_id]})
    status, reply = await call(
        sim, "POST", "/instance-operations/restart", {"instance_ids": [instance_id]}
    )
    assert status == 404 and reply["error"]["code"] == "global/object-does-not-exist"


async def test_user_data_script_runs_once_in_the_home(sim: Any) -> None:
    script = "#!/bin/bash\necho \"ran in $PWD as $USER\"\npython -c 'print(6*7)'\n"
    instance_id, _ = await launch_active(sim, user_data=script)
    log = sim.instance_home(instance_id) / "cloud-init-output.log"
    for _ in range(200):
        if log.exists() and log.read_text().endswith("\n42\n"):
            break
        await asyncio.sleep(0.02)
    assert log.read_text() == f"ran in {sim.instance_home(instance_id)} as ubuntu\n42\n"


async def test_cloud_config_user_data_is_logged_not_run(sim: Any) -> None:
    instance_id, _ = await launch_active(sim, user_data="#cloud-config\npackages: [git]\n")
    log = (sim.instance_home(instance_id) / "cloud-init-output.log").read_text()
    assert "not a #! script" in log
