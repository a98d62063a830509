"""The pause image: what an awsvpc task's sandbox container runs, holding the
task's network namespace while its containers come and go (the ECS agent
ships amazon-ecs-pause for this).  Built locally, no registry needed: a
`docker import` of Debian's static busybox, sleeping forever."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

PAUSE_IMAGE = "portside/pause:0.1.0"
PAUSE_IMAGE_CHANGES = ['CMD ["/bin/busybox", "sleep", "2147483647"]']
BUSYBOX = Path("/bin/busybox")  # Debian's busybox-static (scripts/docker-up installs it)


def pause_rootfs(busybox: Path = BUSYBOX) -> bytes:
    """A tar of the smallest rootfs that can sleep: the static busybox alone."""
    if not busybox.exists():
        raise FileNotFoundError(f"{busybox} is missing: install Debian's busybox-static for awsvpc tasks")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("bin")
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
        tar.add(str(busybox), arcname="bin/busybox")
    return buffer.getvalue()
