"""The agent's kept copy of removed containers' output: the last bytes from a
line start, bounded in all."""

from __future__ import annotations

from portside.agent.output_keeper import OutputKeeper, last_bytes

ARN = "arn:aws:ecs:us-east-1:123456789012:task/default/0123456789abcdef"


def test_last_bytes_start_at_a_line():
    data = b"".join(b"%d\n" % i for i in range(1000))
    kept = last_bytes(data, 100)
    assert len(kept) <= 100 and kept.endswith(b"999\n") and data.endswith(kept)
    assert kept.split(b"\n")[0] == b"%d" % (int(kept.split(b"\n")[1]) - 1)
    assert last_bytes(b"short\n", 100) == b"short\n"
    assert last_bytes(b"x" * 300, 100) == b"x" * 100  # one long line keeps its end


def test_kept_output_is_read_back_and_the_oldest_goes_first(tmp_path):
    keeper = OutputKeeper(tmp_path, total_bytes=250, max_files=10)
    keeper.keep(ARN, "app", b"a" * 100)
    keeper.keep(ARN + "1", "app", b"b" * 100)
    assert keeper.read(ARN, "app") == b"a" * 100
    assert keeper.read(ARN, "other") is None
    keeper.keep(ARN + "2", "web/../x", b"c" * 100)  # names cannot leave the directory
    assert keeper.read(ARN, "app") is None  # over 250 bytes: the oldest went
    assert keeper.read(ARN + "2", "web/../x") == b"c" * 100
    assert all(p.is_relative_to(tmp_path / "container-output") for p in tmp_path.rglob("*.log"))
