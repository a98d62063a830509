"""Each container-definition parameter Portside applies, observed from inside
the container (docker exec) on a real Docker engine; and what is refused,
refused by name through the API."""

from __future__ import annotations

import os
import time

import pytest
from botocore.exceptions import ClientError

from conftest import TEST_IMAGE, error_code, wait_for_task

LOOP = "trap 'exit 0' TERM; while true; do sleep 0.1; done"


def containers_by_name(docker_client, task_arn):
    found = docker_client.containers.list(all=True, filters={"label": f"com.amazonaws.ecs.task-arn={task_arn}"})
    return {c.labels["com.amazonaws.ecs.container-name"]: c for c in found}


def sh(container, script: str) -> str:
    code, out = container.exec_run(["sh", "-c", script])
    return out.decode().strip()


def sh_until(container, script: str, want: str, timeout: float = 10) -> str:
    """The script's output once it is `want` (the container may still be starting)."""
    deadline = time.monotonic() + timeout
    out = sh(container, script)
    while out != want and time.monotonic() < deadline:
        time.sleep(0.1)
        out = sh(container, script)
    return out


def cap_bit(status: str, field: str, bit: int) -> bool:
    line = next(x for x in status.splitlines() if x.startswith(field + ":"))
    return bool(int(line.split()[1], 16) >> bit & 1)


CAP_CHOWN, CAP_NET_ADMIN = 0, 12


def test_parameters_are_applied_inside_the_container(server, docker_agent, docker_client):
    ecs = server.client()
    ecs.register_task_definition(
        family="params",
        volumes=[{"name": "shared-data", "dockerVolumeConfiguration": {
            "scope": "task", "driver": "local", "labels": {"purpose": "test"}}}],
        containerDefinitions=[
            {"name": "main", "image": TEST_IMAGE, "memory": 64, "cpu": 256, "memoryReservation": 32,
             "command": ["sh", "-c", "echo written-by-main > /data/f; " + LOOP],
             "workingDirectory": "/scratch", "readonlyRootFilesystem": True,
             "hostname": "probe-host", "interactive": True, "pseudoTerminal": True,
             "extraHosts": [{"hostname": "db.internal", "ipAddress": "10.1.2.3"}],
             "dnsServers": ["10.9.9.9"], "dnsSearchDomains": ["corp.internal"],
             "ulimits": [{"name": "nofile", "softLimit": 1000, "hardLimit": 2000}],
             "systemControls": [{"namespace": "net.core.somaxconn", "value": "1000"}],
             "dockerSecurityOptions": ["no-new-privileges"],
             "dockerLabels": {"team": "portside"},
             "logConfiguration": {"logDriver": "json-file", "options": {"max-size": "1m"}},
             "mountPoints": [{"sourceVolume": "shared-data", "containerPath": "/data"}],
             "linuxParameters": {
                 "capabilities": {"add": ["NET_ADMIN"], "drop": ["CHOWN"]},
                 "devices": [{"hostPath": "/dev/zero", "containerPath": "/dev/portside-zero",
                              "permissions": ["read"]}],
                 "initProcessEnabled": True, "sharedMemorySize": 32,
                 "tmpfs": [{"containerPath": "/scratch", "size": 8, "mountOptions": ["rw", "noexec"]}],
                 "maxSwap": 0, "swappiness": 10}},
            {"name": "peer", "image": TEST_IMAGE, "memory": 64, "essential": False,
             "command": ["sh", "-c", LOOP], "user": "1000", "privileged": True,
             "disableNetworking": True, "workingDirectory": "/data",
             "volumesFrom": [{"sourceContainer": "main", "readOnly": True}]},
        ])
    arn = ecs.run_task(taskDefinition="params")["tasks"][0]["taskArn"]
    wait_for_task(ecs, arn, "RUNNING")
    found = containers_by_name(docker_client, arn)
    main, peer = found["main"], found["peer"]

    assert sh(main, "pwd") == "/scratch"
    assert "Read-only file system" in sh(main, "touch /bin/x 2>&1")
    mounts = sh(main, "cat /proc/mounts")
    scratch = next(x for x in mounts.splitlines() if " /scratch " in x)
    assert "size=8192k" in scratch and "noexec" in scratch
    shm = next(x for x in mounts.splitlines() if " /dev/shm " in x)
    assert "size=32768k" in shm
    assert sh(main, "hostname") == "probe-host"
    assert "10.1.2.3\tdb.internal" in sh(main, "cat /etc/hosts")
    resolv = sh(main, "cat /etc/resolv.conf")
    assert "nameserver 10.9.9.9" in resolv and "search corp.internal" in resolv
    limits = sh(main, "cat /proc/1/limits")
    open_files = next(x for x in limits.splitlines() if x.startswith("Max open files"))
    assert open_files.split()[3:5] == ["1000", "2000"], limits
    assert sh(main, "cat /proc/sys/net/core/somaxconn") == "1000"
    status = sh(main, "cat /proc/1/status")
    assert "NoNewPrivs:\t1" in status
    assert cap_bit(status, "CapBnd", CAP_NET_ADMIN) and not cap_bit(status, "CapBnd", CAP_CHOWN)
    assert sh(main, "cat /proc/1/comm") == "docker-init"  # initProcessEnabled
    assert sh(main, "[ -c /dev/portside-zero ] && echo device") == "device"
    assert sh(main, "head -c 3 /dev/portside-zero | wc -c") == "3"
    # permissions ["read"] is Docker's cgroup rule "r" (the devices cgroup enforces it; this sandbox's does not)
    assert main.attrs["HostConfig"]["Devices"] == [
        {"PathOnHost": "/dev/zero", "PathInContainer": "/dev/portside-zero", "CgroupPermissions": "r"}]
    assert sh(main, "readlink /proc/$(pidof sh | tr ' ' '\\n' | sort -n | head -1)/fd/0").startswith("/dev/pts/")
    assert sh(main, "cat /sys/fs/cgroup/cpu/cpu.shares") == "256"
    assert sh(main, "cat /sys/fs/cgroup/memory/memory.soft_limit_in_bytes") == str(32 * 1024 * 1024)
    host = main.attrs["HostConfig"]
    assert host["MemorySwap"] == host["Memory"] == 64 * 1024 * 1024  # maxSwap 0: no swap
    assert host["MemorySwappiness"] == 10
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m"}}
    assert main.labels["team"] == "portside"
    assert main.attrs["Config"]["OpenStdin"] and main.attrs["Config"]["Tty"]

    assert sh(peer, "id -u") == "1000"
    assert sh(peer, "pwd") == "/data"
    assert sh_until(peer, "cat /data/f", "written-by-main") == "written-by-main"  # volumesFrom
    assert "Read-only file system" in sh(peer, "echo x > /data/g 2>&1")  # ... readOnly
    assert sh(peer, "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '") == "lo"  # disableNetworking
    assert cap_bit(sh(peer, "cat /proc/1/status"), "CapBnd", CAP_CHOWN)  # privileged: every capability
    assert peer.attrs["HostConfig"]["Privileged"] is True

    volume = docker_client.volumes.get(f"ecs-{arn.rsplit('/', 1)[-1]}-shared-data")
    assert volume.attrs["Labels"]["purpose"] == "test"  # the user's, beside the task's own (orphan clean-up)
    assert volume.attrs["Labels"]["com.amazonaws.ecs.task-arn"] == arn
    ecs.stop_task(task=arn)
    wait_for_task(ecs, arn, "STOPPED")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(v.name == volume.name for v in docker_client.volumes.list()):
        time.sleep(0.2)
    assert volume.name not in [v.name for v in docker_client.volumes.list()]  # task scope: removed


def test_entry_point_volumes_and_size_overrides_inside_the_container(server, docker_agent, docker_client, tmp_path):
    """entryPoint; a `host` volume without sourcePath (a Docker volume for the
    task's life), a shared volume with autoprovision (made once, kept after
    the task), a task volume's driverOpts, a read-only mount point, a UDP
    port mapping; containerOverrides cpu, memory and memoryReservation
    replacing the definition's."""
    import uuid

    ecs = server.client()
    shared = f"portside-test-{uuid.uuid4().hex[:12]}"
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "in").write_text("from the host")
    ecs.register_task_definition(
        family="more",
        volumes=[{"name": "scratch", "host": {}},
                 {"name": shared, "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": True,
                                                                "driver": "local", "labels": {"kind": "shared"}}},
                 {"name": "ro", "host": {"sourcePath": str(tmp_path / "ro")}},
                 {"name": "mem", "dockerVolumeConfiguration": {
                     "scope": "task", "driver": "local",
                     "driverOpts": {"type": "tmpfs", "device": "tmpfs", "o": "size=4m"}}}],
        containerDefinitions=[{
            "name": "main", "image": TEST_IMAGE, "memory": 64, "cpu": 128, "memoryReservation": 32,
            "entryPoint": ["sh", "-c"], "command": ["echo run >> /shared/f; " + LOOP],
            "mountPoints": [{"sourceVolume": "scratch", "containerPath": "/scratch"},
                            {"sourceVolume": shared, "containerPath": "/shared"},
                            {"sourceVolume": "ro", "containerPath": "/ro", "readOnly": True},
                            {"sourceVolume": "mem", "containerPath": "/mem"}],
            "portMappings": [{"containerPort": 5353, "protocol": "udp"}]}])
    arn = ecs.run_task(taskDefinition="more", overrides={"containerOverrides": [
        {"name": "main", "cpu": 200, "memory": 80, "memoryReservation": 40}]})["tasks"][0]["taskArn"]
    task = wait_for_task(ecs, arn, "RUNNING")
    main = containers_by_name(docker_client, arn)["main"]
    try:
        [binding] = task["containers"][0]["networkBindings"]  # a UDP port, published as UDP
        assert binding["protocol"] == "udp" and binding["containerPort"] == 5353 and binding["hostPort"] > 0
        assert main.attrs["NetworkSettings"]["Ports"]["5353/udp"][0]["HostPort"] == str(binding["hostPort"])
        mem = next(line for line in sh(main, "cat /proc/mounts").splitlines() if " /mem " in line)
        assert mem.startswith("tmpfs") and "size=4096k" in mem  # the volume's driverOpts
        assert sh(main, "tr '\\0' ' ' < /proc/1/cmdline").startswith("sh -c echo run")  # entryPoint + command
        assert sh(main, "echo x > /scratch/y && cat /scratch/y") == "x"
        assert sh(main, "cat /ro/in") == "from the host"
        assert "Read-only file system" in sh(main, "echo x > /ro/out 2>&1")
        assert sh(main, "cat /sys/fs/cgroup/cpu/cpu.shares") == "200"
        assert sh(main, "cat /sys/fs/cgroup/memory/memory.limit_in_bytes") == str(80 * 1024 * 1024)
        assert sh(main, "cat /sys/fs/cgroup/memory/memory.soft_limit_in_bytes") == str(40 * 1024 * 1024)
        scratch = f"ecs-{arn.rsplit('/', 1)[-1]}-scratch"
        assert any(m.get("Name") == scratch for m in main.attrs["Mounts"])
        assert docker_client.volumes.get(shared).attrs["Labels"] == {"kind": "shared"}
        assert sh_until(main, "cat /shared/f", "run") == "run"
        ecs.stop_task(task=arn)
        wait_for_task(ecs, arn, "STOPPED")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and scratch in [v.name for v in docker_client.volumes.list()]:
            time.sleep(0.2)
        names = [v.name for v in docker_client.volumes.list()]
        assert scratch not in names and shared in names  # the task's goes, the shared one stays
        # a second task finds the shared volume as the first left it
        again = ecs.run_task(taskDefinition="more")["tasks"][0]["taskArn"]
        wait_for_task(ecs, again, "RUNNING")
        assert sh_until(containers_by_name(docker_client, again)["main"], "cat /shared/f | wc -l", "2") == "2"
        ecs.stop_task(task=again)
        wait_for_task(ecs, again, "STOPPED")
    finally:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                docker_client.volumes.get(shared).remove(force=True)
                break
            except Exception as exc:  # still in use until the agent removes the container
                if "No such volume" in str(exc) or "not found" in str(exc).lower():
                    break
                time.sleep(0.3)


def test_host_pid_and_ipc_namespaces(server, docker_agent, docker_client):
    ecs = server.client()
    ecs.register_task_definition(family="ns", pidMode="host", ipcMode="host", containerDefinitions=[
        {"name": "main", "image": TEST_IMAGE, "memory": 32, "command": ["sh", "-c", LOOP]}])
    arn = ecs.run_task(taskDefinition="ns")["tasks"][0]["taskArn"]
    wait_for_task(ecs, arn, "RUNNING")
    main = containers_by_name(docker_client, arn)["main"]
    assert sh(main, "readlink /proc/self/ns/pid") == os.readlink("/proc/self/ns/pid")
    assert sh(main, "readlink /proc/self/ns/ipc") == os.readlink("/proc/self/ns/ipc")
    ecs.stop_task(task=arn)
    wait_for_task(ecs, arn, "STOPPED")


def test_shared_volume_without_autoprovision_must_exist(server, docker_agent, docker_client):
    ecs = server.client()
    ecs.register_task_definition(
        family="nosuchvol",
        volumes=[{"name": "portside-test-absent", "dockerVolumeConfiguration": {
            "scope": "shared", "autoprovision": False}}],
        containerDefinitions=[{"name": "main", "image": TEST_IMAGE, "memory": 32, "command": ["true"],
                               "mountPoints": [{"sourceVolume": "portside-test-absent",
                                                "containerPath": "/v"}]}])
    arn = ecs.run_task(taskDefinition="nosuchvol")["tasks"][0]["taskArn"]
    task = wait_for_task(ecs, arn, "STOPPED")
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["containers"][0]["reason"].startswith("CannotCreateVolumeError")


@pytest.mark.parametrize("extra, named", [
    ({"firelensConfiguration": {"type": "fluentbit"}}, "'firelensConfiguration' (container 'app')"),
    ({"resourceRequirements": [{"type": "GPU", "value": "1"}]}, "'resourceRequirements' (container 'app')"),
    ({"logConfiguration": {"logDriver": "syslog"}}, "'logConfiguration.logDriver syslog' (container 'app')"),
])
def test_refused_parameters_are_named_by_the_api(ecs, extra, named):
    with pytest.raises(ClientError) as e:
        ecs.register_task_definition(family="refused", containerDefinitions=[
            {"name": "app", "image": TEST_IMAGE, "memory": 32, **extra}])
    assert error_code(e) == "ClientException"
    assert e.value.response["Error"]["Message"].startswith(named)
    assert "not supported by Portside" in e.value.response["Error"]["Message"]


def test_refused_override_is_named_by_the_api(ecs):
    ecs.create_cluster()
    ecs.register_task_definition(family="ov", containerDefinitions=[
        {"name": "app", "image": TEST_IMAGE, "memory": 32}])
    with pytest.raises(ClientError) as e:
        ecs.run_task(taskDefinition="ov", overrides={"containerOverrides": [
            {"name": "app", "environmentFiles": [{"value": "arn:aws:s3:::b/k.env", "type": "s3"}]}]})
    assert error_code(e) == "InvalidParameterException"
    assert "'environmentFiles' (override of container 'app')" in e.value.response["Error"]["Message"]


def test_efs_volume_registers_but_does_not_run(ecs):
    ecs.create_cluster()
    ecs.register_task_definition(family="efs", volumes=[
        {"name": "data", "efsVolumeConfiguration": {"fileSystemId": "fs-1234"}}], containerDefinitions=[
        {"name": "app", "image": TEST_IMAGE, "memory": 32}])
    with pytest.raises(ClientError) as e:
        ecs.run_task(taskDefinition="efs")
    assert error_code(e) == "InvalidParameterException"
    assert e.value.response["Error"]["Message"].startswith("'efsVolumeConfiguration' (volume 'data')")
