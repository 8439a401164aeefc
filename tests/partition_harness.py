"""Network namespaces for a real cloud-edge partition, and the processes that live in them.

Topology (made and removed by `Topology`; names carry a random token, addresses a random
10.A.B.0/29 not already on the host):

    root namespace: the fake API server on 0.0.0.0:PORT (the cloud's control plane)
      ecTOKr 10.A.B.1/30  <-veth->  ecTOKn 10.A.B.2/30  in eas-cloud-TOKEN: `autoscaler run`
      eeTOKr 10.A.B.5/30  <-veth->  eeTOKn 10.A.B.6/30  in eas-edge-TOKEN: the MetaServer on
                                    127.0.0.1:10550 and the edge agent behind it

So the API server's request log tells the two writers apart by source address: the cloud
daemon is 10.A.B.2, the edge (through its MetaServer) 10.A.B.6. `cut()` downs the root end
of the edge's veth: the edge's packets then vanish without an answer (connects time out),
like a DROP rule; iptables and nft are not installed here, and downing the edge's own end
would answer "network unreachable" at once, which no real partition does.

`audit_writers` replays the API server's request log and checks that every scale write came
from the writer-Lease holder of that moment, inside a window its own acknowledged acquire or
renew granted, and that different writers' windows never overlap.
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
import json
import random
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from daemon_harness import SCALE_PATH, STEP, T0, DaemonProcess

from autoscaler.ownership.lease import parse_micro_time
from autoscaler.testing import FakeApiServer, RecordedRequest

RUNNER = Path(__file__).with_name("partition_edge_runner.py")
METASERVER_PORT = 10550
WAIT_SECONDS = 20.0


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`ip ARGS`; a missing `ip` raises (the test fails, never skips, for a missing tool)."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"ip {' '.join(args)}: exit {done.returncode}: {done.stderr}")
    return done


@functools.cache
def netns_refused() -> str:
    """The kernel's refusal to create a network namespace ("" when it allows it): checked
    once per session."""
    name = f"eas-probe-{secrets.token_hex(3)}"
    made = ip("netns", "add", name, check=False)
    if made.returncode != 0:
        return f"ip netns add {name}: exit {made.returncode}: {made.stderr.strip()}"
    ip("netns", "del", name)
    return ""


NODE = "edge-node-1"
CLOUD = "cloud-0"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/edge-autoscaler/leases"
RENEW_DEADLINE, DURATION, SKEW = 10.0, 15.0, 2.0  # both candidates' defaults


def wait_until(what: str, ready: Callable[[], bool], seconds: float = WAIT_SECONDS) -> None:
    """Poll `ready` until it holds; fail naming `what` after `seconds` (real time)."""
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.02)


def _free_subnet() -> ipaddress.IPv4Network:
    taken = [ipaddress.ip_interface(word).network
             for line in ip("-4", "-o", "addr", "show").stdout.splitlines()
             for word in line.split() if "/" in word and word[0].isdigit()]
    taken += [ipaddress.ip_network(line.split()[0]) for line in
              ip("-4", "route", "show").stdout.splitlines() if line[0].isdigit()]
    for _ in range(100):
        subnet = ipaddress.IPv4Network(f"10.{random.randint(200, 250)}."
                                       f"{random.randint(0, 255)}.0/29")
        if not any(subnet.overlaps(other) for other in taken):
            return subnet
    raise AssertionError("no free 10.x.y.0/29 for the test's veth pairs")


@dataclass
class Topology:
    token: str
    subnet: ipaddress.IPv4Network

    @classmethod
    def create(cls) -> Topology:
        topology = cls(secrets.token_hex(3), _free_subnet())
        try:
            for name, namespace, offset in topology.links():
                ip("netns", "add", namespace)
                ip("-n", namespace, "link", "set", "lo", "up")
                ip("link", "add", f"{name}r", "type", "veth", "peer", "name", f"{name}n",
                   "netns", namespace)
                ip("addr", "add", f"{topology.subnet[offset + 1]}/30", "dev", f"{name}r")
                ip("-n", namespace, "addr", "add", f"{topology.subnet[offset + 2]}/30",
                   "dev", f"{name}n")
                ip("link", "set", f"{name}r", "up")
                ip("-n", namespace, "link", "set", f"{name}n", "up")
        except BaseException:
            topology.destroy()
            raise
        return topology

    def links(self) -> list[tuple[str, str, int]]:
        """(veth name stem, namespace, offset of its /30 in the subnet)."""
        return [(f"ec{self.token}", self.cloud_ns, 0), (f"ee{self.token}", self.edge_ns, 4)]

    @property
    def cloud_ns(self) -> str:
        return f"eas-cloud-{self.token}"

    @property
    def edge_ns(self) -> str:
        return f"eas-edge-{self.token}"

    @property
    def cloud_gateway(self) -> str:
        """The API server's address as the cloud namespace reaches it."""
        return str(self.subnet[1])

    @property
    def edge_gateway(self) -> str:
        return str(self.subnet[5])

    @property
    def cloud_ip(self) -> str:
        return str(self.subnet[2])

    @property
    def edge_ip(self) -> str:
        return str(self.subnet[6])

    def cut(self) -> None:
        ip("link", "set", f"ee{self.token}r", "down")

    def heal(self) -> None:
        ip("link", "set", f"ee{self.token}r", "up")

    def destroy(self) -> None:
        """Delete both namespaces (their veth ends, hence the pairs, go with them) and any
        root end left behind. Idempotent; fails loudly if something stays."""
        for name, namespace, _ in self.links():
            ip("netns", "del", namespace, check=False)
            ip("link", "del", f"{name}r", check=False)
        left = [n for _, n, _ in self.links() if n in ip("netns", "list").stdout]
        left += [f"{s}r" for s, _, _ in self.links()
                 if ip("link", "show", f"{s}r", check=False).returncode == 0]
        if left:
            raise AssertionError(f"network namespaces or links not removed: {left}")

    def netns_exec(self, namespace: str, *command: str) -> list[str]:
        return ["ip", "netns", "exec", namespace, *command]


class NetnsProcess(DaemonProcess):
    """A process driven by `--clock-file` (see `DaemonProcess`) run by `ip netns exec`, which
    execs it in place: the pid is the program's, so SIGTERM and SIGKILL reach it."""

    def __init__(self, api: FakeApiServer, workdir: Path, command: list[str]) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        super().__init__(api, workdir)
        self.command = command

    def launch(self, now: float) -> None:
        self._set(now)
        self.done.unlink(missing_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen([*self.command, "--clock-file", str(self.clock)],
                                         stdout=subprocess.DEVNULL, stderr=log)

    def stop(self) -> int:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode if self.proc is not None else 0


class MetaServerProcess:
    """`python -m autoscaler.testing.metaserver` inside the edge namespace; its mode and
    request records come back through files (the test cannot reach it across a cut)."""

    def __init__(self, topology: Topology, workdir: Path, api_port: int) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.state = workdir / "metaserver.state"
        self.log = workdir / "metaserver.jsonl"
        self.stderr = workdir / "metaserver.stderr"
        upstream = f"http://{topology.edge_gateway}:{api_port}"
        with self.stderr.open("ab") as err:
            self.proc = subprocess.Popen(topology.netns_exec(
                topology.edge_ns, sys.executable, "-m", "autoscaler.testing.metaserver",
                "--upstream", upstream, "--listen", f"127.0.0.1:{METASERVER_PORT}",
                "--state-file", str(self.state), "--log", str(self.log)),
                stdout=subprocess.DEVNULL, stderr=err)

    def mode(self) -> str:
        if self.proc.poll() is not None:
            raise AssertionError(f"the MetaServer exited {self.proc.returncode}: "
                                 f"{self.stderr.read_text(errors='replace')}")
        try:
            return self.state.read_text(encoding="utf-8").strip()
        except OSError:
            return ""

    def wait_for(self, mode: str) -> None:
        wait_until(f"the MetaServer to be {mode}", lambda: self.mode() == mode)

    def records(self) -> list[dict[str, object]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines()
                if line.endswith("}")]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(15)


def is_writer_lease(request: RecordedRequest) -> bool:
    body = request.body if isinstance(request.body, dict) else {}
    name = str((body.get("metadata") or {}).get("name", ""))
    return request.path.startswith(LEASES) and name.startswith("eas-writer-")


def audit_writers(requests: list[RecordedRequest], step_of: Callable[[int], int],
                  who: Callable[[RecordedRequest], str]
                  ) -> tuple[list[tuple[int, str, str]], list[tuple[int, str, int]]]:
    """Replay a request log: the acknowledged writer-Lease writes and the scale writes (any
    that reached the server, answered or not), checking each scale write against the holder
    and the grants at that moment. `who` names the sender (by source address)."""
    holder, last_renew = "", -1.0
    grants: list[tuple[str, float]] = []  # (writer, renewTime) of its own acquire/renew
    leases: list[tuple[int, str, str]] = []
    scales: list[tuple[int, str, int]] = []
    for index, request in enumerate(requests):
        k = step_of(index)
        if request.is_write and is_writer_lease(request) and 200 <= request.status < 300:
            sender, spec = who(request), request.body["spec"]
            named = str(spec.get("holderIdentity") or "")
            renew = parse_micro_time(spec["renewTime"]) or 0.0
            if named == sender == NODE and holder != NODE:
                # The edge never jumps the queue: only past the last renewal + 15 s + 2 s.
                assert renew > last_renew + DURATION + SKEW, \
                    f"step {k}: {NODE} took the Lease {renew - last_renew:.0f} s after its " \
                    "last renewal"
            if named == sender:
                grants.append((sender, renew))
            holder, last_renew = named, renew
            leases.append((k, sender, "hold" if named == sender else "request" if named
                           else "release"))
        if request.is_write and request.path == SCALE_PATH:
            sender, now = who(request), T0 + STEP * k
            assert sender == holder, f"step {k}: {sender} wrote the scale; {holder!r} held it"
            assert any(w == sender and r <= now < r + RENEW_DEADLINE for w, r in grants), \
                f"step {k}: {sender} wrote outside its own granted window"
            scales.append((k, sender, int(request.body["spec"]["replicas"])))
    for (a, ra), (b, rb) in itertools.combinations(grants, 2):
        assert a == b or ra + RENEW_DEADLINE <= rb or rb + RENEW_DEADLINE <= ra, \
            f"overlapping writer windows: {a} at {ra - T0:+.0f}, {b} at {rb - T0:+.0f}"
    return leases, scales
