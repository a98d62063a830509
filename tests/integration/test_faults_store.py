"""Damaged, missing and unwritable store files (issue 14).  A real server is
run, killed with SIGKILL (or stopped), its files damaged as an operator's bad
day would, and started again: it must refuse in one line with exit status 2
(or, where the operator may accept the loss, start only with --force), never
start silently on what is left, never die with a traceback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ServerProcess

pytestmark = pytest.mark.serial  # conftest: one at a time on one xdist worker

CLUSTERS = 120


def _filled(tmp_path: Path) -> ServerProcess:
    server = ServerProcess(tmp_path / "data").start()
    ecs = server.client()
    for i in range(CLUSTERS):
        ecs.create_cluster(clusterName=f"c{i}")
    return server


def _start_fails(server: ServerProcess, *extra: str) -> str:
    """Start the server on its data dir; the one line it printed, asserting exit status 2."""
    proc = subprocess.run(
        [sys.executable, "-m", "portside", "server", "--port", str(server.port), "--data-dir",
         str(server.data_dir), *extra], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    err = proc.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def _count(server: ServerProcess) -> int:
    ecs = server.client()
    arns, token = [], None
    while True:
        page = ecs.list_clusters(**({"nextToken": token} if token else {}))
        arns += page["clusterArns"]
        token = page.get("nextToken")
        if not token:
            return sum(1 for a in arns if a.rsplit("/", 1)[1].startswith("c"))


def _db(server: ServerProcess) -> Path:
    return server.data_dir / "portside.db"


def _wal(server: ServerProcess) -> Path:
    return server.data_dir / "portside.db-wal"


def test_a_killed_server_restarts_with_everything(tmp_path):
    """The checks must not refuse an ordinary crash."""
    server = _filled(tmp_path)
    server.stop(signal.SIGKILL)
    assert _wal(server).stat().st_size > 0
    server.start()
    try:
        assert _count(server) == CLUSTERS
    finally:
        server.stop()


def test_a_partial_frame_at_the_end_of_the_log_is_an_unfinished_commit(tmp_path):
    """A kill while a COMMIT writes its frames leaves part of one at the end of
    the WAL (a write to the page cache can stop short on SIGKILL).  Nothing
    acknowledged is in it, so the server must start with everything (before:
    refused as "cut short in the middle of a frame", seen in the crash test)."""
    server = _filled(tmp_path)
    server.stop(signal.SIGKILL)
    wal = _wal(server)
    data = wal.read_bytes()
    header = bytearray(24)
    header[0:4] = (2).to_bytes(4, "big")  # a page number
    header[8:16] = data[16:24]  # the current generation's salts
    wal.write_bytes(data + bytes(header) + os.urandom(1000))  # the frame's page cut after 1,000 bytes
    server.start()
    try:
        assert _count(server) == CLUSTERS
    finally:
        server.stop()


def _without_the_last_commit(data: bytes) -> bytes:
    """The WAL cut right after its second-to-last commit frame: whole frames,
    every one valid, the last commit's frames gone."""
    page_size = int.from_bytes(data[8:12], "big")
    frame = 24 + page_size
    commits = [offset + frame for offset in range(32, len(data) - frame + 1, frame)
               if int.from_bytes(data[offset + 4:offset + 8], "big") and data[offset + 8:offset + 16] == data[16:24]]
    assert len(commits) >= 2, len(commits)
    return data[:commits[-2]]


@pytest.mark.parametrize("damage", ["deleted", "garbage", "cut", "overwritten", "emptied", "cut-on-a-commit"])
def test_a_damaged_write_ahead_log_after_a_crash_is_refused(tmp_path, damage):
    """Before: SQLite replayed what it could and the server started without a
    word, 50-100 % of the acknowledged clusters gone."""
    server = _filled(tmp_path)
    server.stop(signal.SIGKILL)
    wal = _wal(server)
    data = wal.read_bytes()
    frame = 24 + 4096
    if damage == "deleted":
        wal.unlink()
    elif damage == "garbage":
        wal.write_bytes(os.urandom(len(data)))
    elif damage == "cut":
        wal.write_bytes(data[: 32 + frame * ((len(data) - 32) // frame // 2) + 1000])
    elif damage == "cut-on-a-commit":  # before: not detected (the last commit silently lost)
        wal.write_bytes(_without_the_last_commit(data))
    elif damage == "overwritten":
        middle = 32 + frame * ((len(data) - 32) // frame // 2)
        wal.write_bytes(data[:middle] + os.urandom(frame) + data[middle + frame:])
    else:
        wal.write_bytes(b"")
    err = _start_fails(server)
    assert "after an unclean stop" in err and "--force" in err, err
    server.extra = ("--force",)
    server.start()  # the operator accepts what is left
    try:
        assert _count(server) <= CLUSTERS
        assert "--force: starting although" in server.log.read_text()
    finally:
        server.stop()


def test_a_zero_byte_database_is_refused_without_force(tmp_path):
    """Before: it started empty, without a word."""
    server = _filled(tmp_path)
    server.stop()
    _db(server).write_bytes(b"")
    err = _start_fails(server)
    assert "is empty (0 bytes)" in err and "--force" in err, err
    server.extra = ("--force",)
    server.start()
    try:
        assert _count(server) == 0
    finally:
        server.stop()


def test_a_database_that_is_not_sqlite_is_refused(tmp_path):
    server = _filled(tmp_path)
    server.stop()
    _db(server).write_bytes(b"this is not a database, " * 1000)
    err = _start_fails(server)
    assert "cannot be read" in err and str(_db(server)) in err, err


def test_a_damaged_page_is_refused(tmp_path):
    """Before: it started and answered 500 to what touched the page."""
    server = _filled(tmp_path)
    server.stop()
    db = _db(server)
    data = bytearray(db.read_bytes())
    assert len(data) >= 4 * 4096
    for page in range(1, len(data) // 4096):  # every page but the header's: b-tree pages garbled
        data[page * 4096 + 8: page * 4096 + 200] = os.urandom(192)
    db.write_bytes(bytes(data))
    err = _start_fails(server)
    assert ("is damaged (quick_check" in err or "cannot be read" in err) and "backup" in err, err


def test_a_data_dir_that_is_a_file_is_named(tmp_path):
    data = tmp_path / "data"
    data.write_text("not a directory")
    server = ServerProcess(data)
    err = _start_fails(server)
    assert f"the data dir {data} is not a directory" in err, err


def test_a_read_only_data_dir_is_named(tmp_path):
    mount = tmp_path / "ro"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("mounting a read-only tmpfs is not permitted here")
    try:
        server = ServerProcess(mount)
        err = _start_fails(server)
        assert f"the data dir {mount} is not writable" in err, err
    finally:
        subprocess.run(["umount", str(mount)], check=True)


# -- a full disk -------------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 6 MiB tmpfs (CI runs as root; skipped where mounting is not permitted)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs is not permitted here")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def _fill(disk: Path) -> Path:
    """Fill the disk to the last byte; the filler file, to delete for space."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 20, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def _health(server: ServerProcess) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(server.endpoint + "/health", timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_a_full_disk_refuses_writes_by_name_serves_reads_and_recovers(tmp_path, small_disk):
    """Before: every write answered 500 "An internal error occurred." with a
    traceback per request, reads batched with a failing write failed with it,
    and /health said ok."""
    import threading

    from botocore.exceptions import ClientError

    server = ServerProcess(small_disk / "data")
    server.log = tmp_path / "server.log"  # the log is not on the full disk
    server.start()
    try:
        ecs = server.client()
        for i in range(10):
            ecs.create_cluster(clusterName=f"c{i}")
        filler = _fill(small_disk)
        refusals, reads, lock = [], [], threading.Lock()

        def writer(n: int) -> None:
            for j in range(15):
                try:
                    server.client().create_cluster(clusterName=f"w{n}-{j}")
                except ClientError as exc:
                    with lock:
                        refusals.append(exc.response)

        def reader() -> None:
            client = server.client()
            for _ in range(30):
                found = client.list_clusters()["clusterArns"]
                with lock:
                    reads.append(sum(1 for a in found if a.rsplit("/", 1)[1].startswith("c")))

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
        threads += [threading.Thread(target=reader) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert refusals, "no write was refused on a full disk"
        for response in refusals:
            error = response["Error"]
            assert error["Code"] == "ServerException", error
            assert "database or disk is full" in error["Message"], error
        assert reads == [10] * 90, reads  # every read answered, from what is committed
        status, body = _health(server)
        assert status == 503 and b"database or disk is full" in body, (status, body)
        log = server.log.read_text()
        assert "Traceback" not in log, log[-3000:]
        assert log.count("database or disk is full") == 1, log[-3000:]
        filler.unlink()  # space returns
        ecs.create_cluster(clusterName="after")
        assert _health(server)[0] == 200
        assert "succeeds again" in server.log.read_text()
    finally:
        server.stop()
    print(f"\nfull disk: {len(refusals)} writes refused by name, 90 of 90 reads answered")


def test_an_agent_whose_data_dir_is_full_keeps_running(tmp_path, small_disk):
    """Before: it exited 1 with a traceback, unable to write its checkpoint."""
    from conftest import AgentProcess

    server = ServerProcess(tmp_path / "data").start()
    agent = AgentProcess(server, small_disk / "agent", "--runtime", "fake")
    agent.log = tmp_path / "agent.log"
    try:
        ecs = server.client()
        ecs.create_cluster()
        (small_disk / "agent").mkdir()
        filler = _fill(small_disk)
        agent.start()
        arn_listed = None
        from helpers import wait_for

        arn_listed = wait_for(lambda: ecs.list_container_instances()["containerInstanceArns"], 30,
                              what="the agent registered")
        time.sleep(3)  # polls go on (a task's metadata files need the disk too: not covered here)
        assert agent.proc.poll() is None
        assert "could not save" in agent.log.read_text()
        filler.unlink()
        wait_for(lambda: agent.instance_arn == arn_listed[0], 30, what="the checkpoint written once space returns")
    finally:
        agent.stop()
        server.stop()


def test_backup_of_a_live_server_restores(tmp_path):
    server = _filled(tmp_path)
    try:
        copy = tmp_path / "backup.db"
        done = subprocess.run([sys.executable, "-m", "portside", "backup", str(copy), "--data-dir",
                               str(server.data_dir)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        again = subprocess.run([sys.executable, "-m", "portside", "backup", str(copy), "--data-dir",
                                str(server.data_dir)], capture_output=True, text=True, timeout=60)
        assert again.returncode == 2 and "exists already" in again.stderr, again.stderr
    finally:
        server.stop()
    restored = tmp_path / "restored"
    restored.mkdir()
    copy.rename(restored / "portside.db")
    server = ServerProcess(restored).start()
    try:
        assert _count(server) == CLUSTERS
    finally:
        server.stop()


def test_a_second_server_on_a_served_data_dir_is_refused(tmp_path):
    server = ServerProcess(tmp_path / "data").start()
    try:
        err = _start_fails(server)
        assert f"another portside server (pid {server.proc.pid}) is serving" in err, err
    finally:
        server.stop()
