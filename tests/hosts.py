"""Virtual hosts for the multi-host tests (issue 16): network namespaces
(`ip netns`) joined by a Linux bridge on a private subnet of this machine's
own (10.213.N.0/24, never routed anywhere: no traffic leaves the machine).

Layout. The bridge lives in a namespace of its own (the "switch"): frames it
forwards between hosts then meet that namespace's netfilter rules, which are
empty, and not this machine's (Docker sets the FORWARD policy to DROP, and
br_netfilter passes bridged frames through it). This machine's own namespace
(the test, its boto3 clients, PostgreSQL) joins the switch through a veth
pair as the subnet's .1; each host is a namespace with loopback up and one
veth, `eth0`, into the switch. `cut(host)` takes that link down: the host
loses everything beyond itself at once (new connections fail, established
ones see silence), while processes inside still reach their own address.

Names carry this process's pid, so parallel runs (xdist workers, other
checkouts) never meet; the subnet is picked under a lock among those no
interface here uses; `close()` kills what runs inside and deletes it all,
and a new network first deletes what a killed run left behind."""

from __future__ import annotations

import fcntl
import ipaddress
import os
import re
import signal
import subprocess
import uuid
from dataclasses import dataclass, field

PREFIX = "portside-"  # every namespace made here: portside-<pid>-<run>-<host>
LOCK = "/tmp/portside-netns.lock"


def _ip(*args: str) -> str:
    done = subprocess.run(["ip", *args], check=True, capture_output=True, text=True)
    return done.stdout


def available() -> str | None:
    """Why no network namespaces can be made here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    try:
        _ip("netns", "list")
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"`ip netns` does not work here ({exc}); scripts/netns-up installs iproute2"
    return None


@dataclass
class Host:
    """One virtual host: a namespace with `address` on its `eth0`."""

    name: str
    namespace: str
    address: str


@dataclass
class Network:
    """The switch, the gateway link of this machine and the hosts made so far."""

    run: str
    subnet: ipaddress.IPv4Network
    switch: str
    gateway_link: str
    hosts: list[Host] = field(default_factory=list)

    @property
    def gateway(self) -> str:
        """This machine's address on the network (PostgreSQL listens here)."""
        return str(self.subnet.network_address + 1)

    def add_host(self, name: str) -> Host:
        host = Host(name, f"{self.run}-{name}", str(self.subnet.network_address + 10 + len(self.hosts)))
        _ip("netns", "add", host.namespace)
        self.hosts.append(host)
        port = f"p{len(self.hosts)}"
        _ip("-n", host.namespace, "link", "set", "lo", "up")
        _ip("link", "add", "eth0", "netns", host.namespace, "type", "veth", "peer", "name", port, "netns", self.switch)
        _ip("-n", self.switch, "link", "set", port, "master", "br0", "up")
        _ip("-n", host.namespace, "addr", "add", f"{host.address}/{self.subnet.prefixlen}", "dev", "eth0")
        _ip("-n", host.namespace, "link", "set", "eth0", "up")
        return host

    def cut(self, host: Host) -> None:
        """Take the host's only link down: a partition from everything else."""
        _ip("-n", host.namespace, "link", "set", "eth0", "down")

    def heal(self, host: Host) -> None:
        _ip("-n", host.namespace, "link", "set", "eth0", "up")

    def close(self) -> None:
        for namespace in [h.namespace for h in self.hosts] + [self.switch]:
            _delete_namespace(namespace)
        subprocess.run(["ip", "link", "del", self.gateway_link], capture_output=True)  # gone with its peer, usually


def _delete_namespace(namespace: str) -> None:
    """Kill what still runs inside (deleting a namespace does not), then delete it."""
    pids = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    subprocess.run(["ip", "netns", "del", namespace], capture_output=True)


def _sweep_leftovers() -> None:
    """Delete the namespaces of runs whose process is gone (killed before its teardown)."""
    for line in _ip("netns", "list").splitlines():
        found = re.match(rf"({re.escape(PREFIX)}(\d+)-\S+)", line)
        if found and not os.path.exists(f"/proc/{found.group(2)}"):
            _delete_namespace(found.group(1))


def _subnets_in_use() -> list[ipaddress.IPv4Network]:
    used = []
    for line in _ip("-4", "-o", "addr", "show").splitlines():
        found = re.search(r"inet (\S+)", line)
        if found:
            used.append(ipaddress.IPv4Interface(found.group(1)).network)
    return used


def make_network() -> Network:
    """A switch namespace with its bridge, and this machine on it as .1 of a
    free 10.213.N.0/24 (N from this pid onwards). Close it when done."""
    run = f"{PREFIX}{os.getpid()}-{uuid.uuid4().hex[:6]}"
    switch = f"{run}-switch"
    gateway_link = f"psn{uuid.uuid4().hex[:8]}"  # interface names: 15 characters at most
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two runs must not pick the same subnet at once
        _sweep_leftovers()
        used = _subnets_in_use()
        for n in range(230):
            subnet = ipaddress.IPv4Network(f"10.213.{20 + (os.getpid() + n) % 230}.0/24")
            if not any(subnet.overlaps(u) for u in used):
                break
        else:
            raise RuntimeError("no free 10.213.N.0/24 subnet")
        network = Network(run, subnet, switch, gateway_link)
        try:
            _ip("netns", "add", switch)
            _ip("-n", switch, "link", "add", "br0", "type", "bridge")
            _ip("-n", switch, "link", "set", "br0", "up")
            _ip("link", "add", gateway_link, "type", "veth", "peer", "name", "p0", "netns", switch)
            _ip("-n", switch, "link", "set", "p0", "master", "br0", "up")
            _ip("addr", "add", f"{network.gateway}/{subnet.prefixlen}", "dev", gateway_link)
            _ip("link", "set", gateway_link, "up")
        except BaseException:
            network.close()
            raise
    return network
