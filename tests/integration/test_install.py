"""`pip install .` (no extras) gives a Portside that starts: every module the
server and the agent import is a runtime dependency.  A fresh venv installs
the package from a copy of this checkout (dependencies from PyPI, or pip's
cache) and runs `portside up --runtime fake`.

Marked `network` (it needs PyPI or a warm pip cache): `-m "not network"`
skips it offline; CI runs it."""

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.network
def test_a_plain_install_runs_portside_up(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "portside", source / "portside",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    install = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(source)],
                             capture_output=True, text=True, timeout=900)
    assert install.returncode == 0, install.stderr[-2000:]

    port = free_port()
    proc = subprocess.Popen([str(venv / "bin" / "portside"), "up", "--runtime", "fake", "--port", str(port),
                             "--data-dir", str(tmp_path / "data")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        ecs = boto3.client("ecs", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                           aws_access_key_id="a", aws_secret_access_key="b")
        deadline = time.time() + 60
        instances: list[str] = []
        while time.time() < deadline and not instances and proc.poll() is None:
            try:
                instances = ecs.list_container_instances()["containerInstanceArns"]
            except Exception:
                time.sleep(0.2)
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        assert len(instances) == 1  # the server created `default` and the agent registered in it
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    output = proc.stdout.read() if proc.stdout else ""
    assert code == 0 and "Traceback" not in output, output[-2000:]
