"""An agent whose RegisterContainerInstance was committed but whose answer
never arrived (the server killed between the two, played by a relay that
passes the request on and drops the answer) registers one instance, not two:
it names its host in the identity document and, before registering, looks
for an instance already registered under that name."""

from __future__ import annotations

import socket
import threading
from types import SimpleNamespace

from conftest import AgentProcess


class AnswerLosingRelay:
    """A TCP relay to `port` on loopback that passes every request on and
    drops the answer to the first one containing `marker` (closing the
    client's connection instead)."""

    def __init__(self, port: int, marker: bytes) -> None:
        self.port, self.marker = port, marker
        self.lost = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.port))
            losing = threading.Event()  # this connection's next answer is to be dropped
            threading.Thread(target=self._requests, args=(client, upstream, losing), daemon=True).start()
            threading.Thread(target=self._answers, args=(upstream, client, losing), daemon=True).start()

    def _requests(self, client: socket.socket, upstream: socket.socket, losing: threading.Event) -> None:
        try:
            while data := client.recv(65536):
                if self.marker in data and not self.lost.is_set():
                    losing.set()
                upstream.sendall(data)
        except OSError:
            pass
        _close(upstream)

    def _answers(self, upstream: socket.socket, client: socket.socket, losing: threading.Event) -> None:
        try:
            while data := upstream.recv(65536):
                if losing.is_set():  # the server answered (it committed): the answer is lost
                    self.lost.set()
                    break
                client.sendall(data)
        except OSError:
            pass
        _close(client)
        _close(upstream)

    def close(self) -> None:
        self.listener.close()


def _close(sock: socket.socket) -> None:
    """Close now (shutdown first: a thread blocked reading it keeps the connection open otherwise)."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def test_a_registration_whose_answer_was_lost_is_not_registered_twice(server, tmp_path):
    ecs = server.client()
    ecs.create_cluster()
    relay = AnswerLosingRelay(int(server.endpoint.rsplit(":", 1)[1]), b"RegisterContainerInstance")
    agent = AgentProcess(SimpleNamespace(endpoint=relay.endpoint), tmp_path / "agent",  # type: ignore[arg-type]
                         "--runtime", "fake")
    try:
        agent.start()
        arn = agent.wait_registered(timeout=30)
        assert relay.lost.is_set(), "the relay never dropped an answer"
        assert ecs.list_container_instances()["containerInstanceArns"] == [arn]
        (instance,) = ecs.describe_container_instances(containerInstances=[arn])["containerInstances"]
        assert instance["agentConnected"] is True and instance["ec2InstanceId"].startswith("i-")
    finally:
        agent.stop()
        relay.close()
