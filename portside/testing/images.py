"""A local container image for tests and benchmarks, built without a registry:
`docker import` of a rootfs made from Debian's static busybox."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import docker
import docker.errors

TEST_IMAGE = "portside-test/busybox:latest"
INDEX_PAGE = b"hello from portside\n"


def busybox_rootfs(busybox: Path = Path("/bin/busybox")) -> bytes:
    """A tar of a minimal rootfs: busybox, its applets as links, /tmp, and
    /www/index.html for `httpd -h /www`."""
    applets = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=True).stdout.split()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in ("bin", "tmp", "www", "data"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        tar.add(str(busybox), arcname="bin/busybox")
        for applet in applets:
            if applet != "busybox":
                link = tarfile.TarInfo(f"bin/{applet}")
                link.type, link.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(link)
        info = tarfile.TarInfo("www/index.html")
        info.size = len(INDEX_PAGE)
        tar.addfile(info, io.BytesIO(INDEX_PAGE))
    return buffer.getvalue()


def ensure_test_image(client: docker.DockerClient, name: str = TEST_IMAGE) -> str:
    """The image, imported once if the engine lacks it."""
    try:
        client.images.get(name)
    except docker.errors.ImageNotFound:
        repository, tag = name.split(":")
        client.api.import_image_from_data(
            busybox_rootfs(), repository=repository, tag=tag, changes=["ENV PATH=/bin", 'CMD ["/bin/sh"]']
        )
    return name
