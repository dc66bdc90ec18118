"""One Redis budget across two network namespaces, standing in for two machines.

Each namespace has only its loopback and one veth link to this host, where
Redis and FakeHubSpot listen on the link addresses: a worker in one
namespace cannot see the other's, nor this host's 127.0.0.1. One B8 worker
process of eight threads runs in each. Needs root and ``ip netns``; skipped
otherwise.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys

import pytest

from benchmarks.shared_budget import Placement, private_redis, run_scenario

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2 (ip netns)"
)


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


class Machine:
    """A network namespace joined to this host by a veth pair on 10.231.<n>.0/30."""

    def __init__(self, tag: str, n: int) -> None:
        self.namespace = f"etlify-{tag}-{n}"
        self.host_address = f"10.231.{n}.1"
        self.address = f"10.231.{n}.2"
        self._host_link = f"et{tag}{n}h"

    def __enter__(self) -> Machine:
        inner = self._host_link[:-1] + "n"
        ip("netns", "add", self.namespace)
        try:
            ip("link", "add", self._host_link, "type", "veth", "peer", "name", inner)
            ip("link", "set", inner, "netns", self.namespace)
            ip("addr", "add", f"{self.host_address}/30", "dev", self._host_link)
            ip("link", "set", self._host_link, "up")
            ns = ("netns", "exec", self.namespace, "ip")
            ip(*ns, "addr", "add", f"{self.address}/30", "dev", inner)
            ip(*ns, "link", "set", inner, "up")
            ip(*ns, "link", "set", "lo", "up")
        except BaseException:
            self.__exit__()
            raise
        return self

    def run(self, *command: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["ip", "netns", "exec", self.namespace, *command], capture_output=True, text=True
        )

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["ip", "link", "del", self._host_link], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.namespace], capture_output=True)


@pytest.fixture
def machines():
    tag = secrets.token_hex(2)
    try:
        first, second = Machine(tag, 1), Machine(tag, 2)
        with first, second:
            yield first, second
    except subprocess.CalledProcessError as error:
        pytest.skip(f"cannot make network namespaces here: {error.stderr.decode().strip()}")


CONNECTS = """
import socket, sys
probe = socket.socket()
probe.settimeout(1)
sys.exit(probe.connect_ex((sys.argv[1], int(sys.argv[2]))))
"""


def test_a_namespace_reaches_this_host_only_through_its_link(machines):
    first, _ = machines
    with private_redis(bind=(first.host_address,)) as redis:
        port = str(redis.port)
        assert first.run(sys.executable, "-c", CONNECTS, first.host_address, port).returncode == 0
        assert first.run(sys.executable, "-c", CONNECTS, "127.0.0.1", port).returncode != 0


def test_two_machines_on_one_redis_budget_use_it_without_429s(machines, tmp_path, soak):
    duration = 60.0 if soak else 15.0
    addresses = tuple(machine.host_address for machine in machines)
    with private_redis(bind=addresses) as redis:
        placements = [
            Placement(
                prefix=("ip", "netns", "exec", machine.namespace),
                hubspot_host=machine.host_address,
                shared=redis.url_at(machine.host_address),
            )
            for machine in machines
        ]
        figures = run_scenario(
            None, duration, workdir=str(tmp_path), placements=placements, hubspot_host="0.0.0.0"
        )
    assert figures["exit_codes"] == [0, 0]
    assert figures["records_failed"] == {}, figures
    assert figures["throughput"] >= 0.9, figures
    assert figures["share_429"] <= 0.01, figures
