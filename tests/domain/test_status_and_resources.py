"""The pure pieces: status ordering, resource arithmetic, task reservations."""

from portside.domain.resources import Capacity, Reservation
from portside.domain.status import Status, advance, task_status_from_containers
from portside.domain.task import apply_task_change, request_stop, reservation_for


def test_status_only_moves_forward():
    assert advance("PENDING", "RUNNING") == "RUNNING"
    assert advance("RUNNING", "PENDING") == "RUNNING"
    assert advance("STOPPED", "RUNNING") == "STOPPED"
    assert [s.name for s in sorted(Status)] == [
        "PROVISIONING", "PENDING", "CREATED", "ACTIVATING", "RUNNING",
        "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"]
    assert task_status_from_containers(["RUNNING", "PENDING"]) == "PENDING"
    assert task_status_from_containers(["STOPPED", "STOPPED"]) == "STOPPED"


def test_capacity_reserve_and_release_keep_registered_ports():
    registered = Capacity(1024, 2048, {22}, set())
    remaining = Capacity(1024, 2048, {22}, set())
    need = Reservation(256, 512, [8080], [53])
    assert remaining.shortfall(need) is None
    remaining.reserve(need)
    assert (remaining.cpu, remaining.memory, remaining.ports, remaining.ports_udp) == (768, 1536, {22, 8080}, {53})
    assert remaining.shortfall(Reservation(0, 0, [8080])) == "RESOURCE:PORTS"
    assert remaining.shortfall(Reservation(0, 0, [], [53])) == "RESOURCE:PORTS_UDP"
    assert remaining.shortfall(Reservation(800, 0)) == "RESOURCE:CPU"
    assert remaining.shortfall(Reservation(0, 1600)) == "RESOURCE:MEMORY"
    held = Capacity(0, 0, set(), set())
    held.hold(need)
    held.hold(Reservation(100, 100, [9090]))
    held.unhold(Reservation(100, 100, [9090]))
    again = Capacity.free(registered.to_resources(), held)
    assert (again.cpu, again.memory, again.ports, again.ports_udp) == (768, 1536, {22, 8080}, {53})
    held.unhold(need)
    again = Capacity.free(registered.to_resources(), held)
    assert (again.cpu, again.memory, again.ports, again.ports_udp) == (1024, 2048, {22}, set())


def test_capacity_round_trips_through_resources():
    capacity = Capacity(10, 20, {1, 2}, {3})
    again = Capacity.from_resources(capacity.to_resources())
    assert (again.cpu, again.memory, again.ports, again.ports_udp) == (10, 20, {1, 2}, {3})
    again.reserve(Reservation(1, 1, [4]))
    assert Capacity.from_resources(capacity.to_resources()).ports == {1, 2}  # parsed copies are independent


def test_reservation_rules():
    definition = {"containerDefinitions": [
        {"name": "a", "cpu": 100, "memory": 300, "memoryReservation": 200,
         "portMappings": [{"containerPort": 80, "hostPort": 8080},
                          {"containerPort": 53, "protocol": "udp", "hostPort": 53}]},
        {"name": "b", "memory": 50, "portMappings": [{"containerPort": 90}]}]}
    need = reservation_for(definition, None)
    assert (need.cpu, need.memory, need.ports, need.ports_udp) == (100, 250, [8080], [53])
    need = reservation_for(definition, {"containerOverrides": [{"name": "b", "memory": 70, "cpu": 5}]})
    assert (need.cpu, need.memory) == (105, 270)
    assert reservation_for(definition | {"cpu": "1024", "memory": "2048"}, None).cpu == 1024
    host = reservation_for(definition | {"networkMode": "host"}, None)
    assert sorted(host.ports) == [90, 8080]
    assert reservation_for(definition | {"networkMode": "awsvpc"}, None).ports == []


def _task():
    return {"lastStatus": "PENDING", "desiredStatus": "RUNNING", "version": 1,
            "containers": [{"name": "a", "lastStatus": "PENDING"}]}


def test_task_change_stamps_once_and_derives_stop_code():
    task = _task()
    task["containers"][0]["lastStatus"] = "RUNNING"
    assert apply_task_change(task, {}, 10.0) is False
    assert task["lastStatus"] == "RUNNING" and task["startedAt"] == 10.0
    apply_task_change(task, {"status": "RUNNING"}, 11.0)
    assert task["startedAt"] == 10.0
    assert apply_task_change(task, {"status": "STOPPED"}, 12.0) is True
    assert task["stopCode"] == "EssentialContainerExited"
    assert task["stoppedAt"] == 12.0 and task["desiredStatus"] == "STOPPED"
    assert apply_task_change(task, {"status": "STOPPED"}, 13.0) is False  # once


def test_user_stop_keeps_its_reason():
    task = _task()
    assert request_stop(task, None, 5.0) is True
    assert request_stop(task, "again", 6.0) is False
    assert task["stoppedReason"] == "Task stopped by user" and task["stoppingAt"] == 5.0
    apply_task_change(task, {"status": "STOPPED", "reason": "ignored"}, 7.0)
    assert task["stopCode"] == "UserInitiated" and task["stoppedReason"] == "Task stopped by user"


def test_a_port_range_bounds_the_static_ports_an_instance_can_give():
    from portside.domain.resources import host_port_range, parse_port_range

    assert parse_port_range("20000-20999") == (20000, 20999)
    assert [parse_port_range(t) for t in ("20999-20000", "0-10", "1-65536", "80", "a-b")] == [None] * 5
    assert host_port_range({"attributes": [{"name": "portside.host-port-range", "value": "10-20"}]}) == (10, 20)
    assert host_port_range({"attributes": [{"name": "ecs.os-type", "value": "linux"}]}) is None
    free = Capacity(1024, 2048, {15}, set(), port_range=(10, 20))
    assert free.shortfall(Reservation(0, 0, [12])) is None
    assert free.shortfall(Reservation(0, 0, [15])) == "RESOURCE:PORTS"
    assert free.shortfall(Reservation(0, 0, [21])) == "RESOURCE:PORTS"
    assert free.shortfall(Reservation(0, 0, [], [9])) == "RESOURCE:PORTS_UDP"
    assert free.copy().port_range == (10, 20)
    assert Capacity.free(free.to_resources(), None, (10, 20)).shortfall(Reservation(0, 0, [21])) == "RESOURCE:PORTS"
