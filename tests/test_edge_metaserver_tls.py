"""The edge agent against a MetaServer with KubeEdge's `requireAuthorization`: HTTPS whose
certificate is verified with the node's CA, and the pod's service-account token on every
request, re-read from its file when the kubelet rotates it.

The fakes serve TLS with a CA and a server certificate (IP SAN 127.0.0.1, like edgecore's
kubelet-serving certificate) made by `openssl` at test time, and refuse (401) any request
without the expected bearer token. Asserted: the agent reconciles through the fake MetaServer
(and straight against an HTTPS API server) with the right CA and token; a wrong CA is a TLS
verification failure said plainly, with nothing written; a wrong token is a 401 with a hint,
nothing written; a missing or unusable CA or token file stops the start with one line naming
the file; a rotated token file is used from the next request on (the fake then accepts only
the new token); no token value ever appears in the agent's logs or errors. Plain HTTP is
covered by tests/test_edge_app.py (and kept as a row here).
"""

from __future__ import annotations

import io
import logging
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog

from autoscaler.clock import FakeClock
from autoscaler.edge.app import EdgeAgent, EdgeOptions, build_edge, metaserver_connection, run_edge
from autoscaler.errors import UsageError
from autoscaler.kube.client import SERVICE_ACCOUNT_CA, SERVICE_ACCOUNT_TOKEN
from autoscaler.runtime.process import configure_logging
from autoscaler.testing import FakeApiServer
from autoscaler.testing.metaserver import MetaServer
from autoscaler.testing.server import TlsFiles

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None,
                                reason="needs the openssl command to make test certificates")

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_800_000_000.0
NODE = "edge-node-1"
APP = "qwen"
# Recognizable values: any of them in a log line is a leak.
TOKEN = "tok-0RIGINAL-5ecret-aaaaaaaaaaaaaaaa"
ROTATED = "tok-R0TATED-5ecret-bbbbbbbbbbbbbbbb"
STRANGER = "tok-STRANGER-5ecret-cccccccccccccccc"
SECRETS = (TOKEN, ROTATED, STRANGER)


# A test PKI: a CA, a server certificate it signs for 127.0.0.1, and an unrelated CA.

@dataclass(frozen=True)
class Pki:
    ca: Path
    other_ca: Path
    server: TlsFiles


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2",
             "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
    return directory / f"{name}.crt", directory / f"{name}.key"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca, ca_key = _make_ca(directory, "cluster-ca")
    other_ca, _ = _make_ca(directory, "other-ca")
    (directory / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", "server.key", "-out", "server.csr",
             "-subj", f"/O=system:nodes/CN=system:node:{NODE}", cwd=directory)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", ca.name, "-CAkey", ca_key.name,
             "-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", "server.crt",
             cwd=directory)
    return Pki(ca, other_ca, TlsFiles(directory / "server.crt", directory / "server.key"))


# The cluster behind the endpoint: one Deployment with one pod on this node, its autoscaler.

def stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def seed(api: FakeApiServer) -> None:
    api.register_kind("edgeautoscaler.io", "v1alpha1", "ElasticAutoscaler",
                      "elasticautoscalers", subresources=("status",))
    api.create({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": APP, "namespace": "default"},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": APP}}}})
    api.create({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": f"{APP}-0", "namespace": "default", "labels": {"app": APP}},
                "spec": {"nodeName": NODE, "containers": [
                    {"name": "c", "resources": {"requests": {"cpu": "1"}}}]},
                "status": {"phase": "Running", "startTime": stamp(T0 - 3600),
                           "conditions": [{"type": "Ready", "status": "True",
                                           "lastTransitionTime": stamp(T0 - 3500)}]}})
    api.create({"apiVersion": "edgeautoscaler.io/v1alpha1", "kind": "ElasticAutoscaler",
                "metadata": {"name": APP, "namespace": "default"},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                            "name": APP},
                         "minReplicas": 1, "maxReplicas": 4,
                         "metrics": [{"type": "Resource", "resource": {
                             "name": "cpu", "target": {"type": "Utilization",
                                                       "averageUtilization": 50}}}]}})


def replicas(api: FakeApiServer) -> int:
    return int(api.get("apps/v1", "Deployment", "default", APP)["spec"]["replicas"])


def scale_writes(api: FakeApiServer) -> int:
    return sum(1 for r in api.writes() if r.path.endswith("/scale"))


@dataclass
class Endpoint:
    """What the agent talks to (`url`), the API server holding the objects (`api`), and how
    to make the endpoint accept another token (as a token refresh in the cluster would)."""

    url: str
    api: FakeApiServer
    set_token: Callable[[str | None], None]
    unauthorized: Callable[[], int]  # 401 answers so far
    received: Callable[[], int]  # requests the endpoint answered so far


def _through_metaserver(pki: Pki, tls: bool, token: str | None
                        ) -> AbstractContextManager[Endpoint]:
    @contextmanager
    def endpoint() -> Iterator[Endpoint]:
        with FakeApiServer() as api:
            seed(api)
            with MetaServer(api.url, tls=pki.server if tls else None, token=token) as meta:
                yield Endpoint(meta.url, api, meta.set_token,
                               lambda: sum(1 for r in meta.records if r["status"] == 401),
                               lambda: len(meta.records))
    return endpoint()


def _apiserver_direct(pki: Pki, tls: bool, token: str | None
                      ) -> AbstractContextManager[Endpoint]:
    @contextmanager
    def endpoint() -> Iterator[Endpoint]:
        with FakeApiServer(tls=pki.server if tls else None, token=token) as api:
            seed(api)
            yield Endpoint(api.url, api, api.set_token,
                           lambda: sum(1 for r in api.requests if r.status == 401),
                           lambda: len(api.requests))
    return endpoint()


Kind = Callable[[Pki, bool, str | None], AbstractContextManager[Endpoint]]
AUTHORIZED: list[object] = [
    pytest.param(_through_metaserver, id="https-metaserver"),
    pytest.param(_apiserver_direct, id="https-apiserver"),
]


# The agent

def cpu(root: Path, uid: str, usage_usec: int) -> None:
    pod = root / "kubepods" / "burstable" / f"pod{uid}"
    pod.mkdir(parents=True, exist_ok=True)
    (pod / "cpu.stat").write_text(f"usage_usec {usage_usec}\n")


@dataclass
class Agent:
    agent: EdgeAgent
    clock: FakeClock
    cgroups: Path
    uid: str
    usage: int = 0

    def step(self, seconds: float, cores: float = 1.0) -> None:
        self.clock.advance(seconds)
        self.usage += int(cores * seconds * 1_000_000)
        cpu(self.cgroups, self.uid, self.usage)
        self.agent.loop.run_pass()


def options(tmp_path: Path, url: str, ca: Path | None = None, token_file: Path | None = None,
            **more: object) -> EdgeOptions:
    return EdgeOptions(node_name=NODE, journal=tmp_path / "journal", metaserver=url,
                       metaserver_ca=ca, metaserver_token_file=token_file,
                       cgroup_root=tmp_path / "cgroup", lease_namespace="default",
                       **more)  # type: ignore[arg-type]


def start_agent(endpoint: Endpoint, tmp_path: Path, ca: Path | None,
                token_file: Path | None) -> Agent:
    clock = FakeClock(T0)
    uid = endpoint.api.get("v1", "Pod", "default", f"{APP}-0")["metadata"]["uid"]
    cpu(tmp_path / "cgroup", uid, 0)
    agent = build_edge(options(tmp_path, endpoint.url, ca, token_file), clock)
    agent.pods.caches[""].list_now()
    for cache in agent.specs.caches:
        cache.list_now()
    return Agent(agent, clock, tmp_path / "cgroup", uid)


def take_over(agent: Agent) -> None:
    """A CPU baseline, then 100 % of the request (wants 2 replicas): the agent creates the
    free writer Lease, waits out expiry plus the skew bound, takes it and writes."""
    agent.agent.loop.run_pass()
    for _ in range(3):
        agent.step(17)


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """The agent's structured log, as run_edge configures it (JSON lines)."""
    stream = io.StringIO()
    configure_logging("json", stream)
    yield stream
    structlog.reset_defaults()


@pytest.fixture
def in_process() -> Iterator[None]:
    """run_edge installs SIGTERM/SIGINT handlers for its loop and points the log at this
    test's (captured, soon closed) stderr: put pytest's handlers and structlog's defaults
    back after, or a later test's watch thread would log into a closed file."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    structlog.reset_defaults()
    for number, handler in saved.items():
        signal.signal(number, handler)


def write_token(path: Path, token: str) -> Path:
    # Like the kubelet's projected volume: a new file swapped in whole, never a partial one.
    partial = path.with_name(path.name + ".new")
    partial.write_text(token + "\n", encoding="utf-8")
    partial.replace(path)
    return path


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


# Tests

@pytest.mark.parametrize("make", [
    *AUTHORIZED,
    pytest.param(lambda pki, tls, token: _through_metaserver(pki, False, None),
                 id="http-metaserver-still-plain"),
])
def test_agent_reconciles_through_the_endpoint(
        make: Kind, pki: Pki, tmp_path: Path, logs: io.StringIO,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # urllib3 and the client log requests at DEBUG
    with make(pki, True, TOKEN) as endpoint:
        https = endpoint.url.startswith("https://")
        agent = start_agent(endpoint, tmp_path, pki.ca if https else None,
                            write_token(tmp_path / "token", TOKEN) if https else None)
        take_over(agent)
        assert replicas(endpoint.api) == 2
        assert scale_writes(endpoint.api) == 1
        assert endpoint.unauthorized() == 0
        agent.agent.journal.close()
    assert_no_secret(logs.getvalue(), caplog.text)


@pytest.mark.parametrize("make", AUTHORIZED)
def test_rotated_token_file_is_used_from_the_next_request(
        make: Kind, pki: Pki, tmp_path: Path, logs: io.StringIO,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token_file = write_token(tmp_path / "token", TOKEN)
    with make(pki, True, TOKEN) as endpoint:
        agent = start_agent(endpoint, tmp_path, pki.ca, token_file)
        agent.agent.loop.run_pass()
        agent.step(17)  # creates the free Lease: the agent waits out its expiry
        assert endpoint.unauthorized() == 0
        # The cluster issues a new token (the old one is refused from now on) and the kubelet
        # swaps the file: the agent's next requests carry the new one.
        endpoint.set_token(ROTATED)
        write_token(token_file, ROTATED)
        agent.step(17)
        agent.step(17)  # takes the Lease over and writes
        assert endpoint.unauthorized() == 0
        assert replicas(endpoint.api) == 2
        # The token file briefly unreadable (mid-rotation, a remount): the last good token
        # goes on being used, the problem is logged once, naming the file.
        token_file.unlink()
        agent.step(17, cores=2.0)
        agent.step(17, cores=2.0)
        assert endpoint.unauthorized() == 0
        warnings = [line for line in logs.getvalue().splitlines()
                    if "token file unreadable" in line]
        assert len(warnings) == 1 and str(token_file) in warnings[0]
        # A token the endpoint no longer accepts: every request is refused (401), nothing is
        # written; the agent says which credentials to check.
        write_token(token_file, STRANGER)
        writes = scale_writes(endpoint.api)
        before = endpoint.unauthorized()
        agent.step(17, cores=3.0)
        assert endpoint.unauthorized() > before
        assert scale_writes(endpoint.api) == writes
        assert "401" in logs.getvalue()
        agent.agent.journal.close()
    assert_no_secret(logs.getvalue(), caplog.text)


@pytest.mark.parametrize(("case", "expected"), [
    pytest.param("wrong-ca", "CERTIFICATE_VERIFY_FAILED", id="wrong-ca"),
    pytest.param("wrong-token", "HTTP 401 Unauthorized: check the credentials",
                 id="wrong-token"),
])
@pytest.mark.parametrize("make", AUTHORIZED)
def test_refused_connection_is_reported_and_nothing_is_written(
        make: Kind, case: str, expected: str, pki: Pki, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], in_process: None) -> None:
    token_file = write_token(tmp_path / "token", STRANGER if case == "wrong-token" else TOKEN)
    ca = pki.other_ca if case == "wrong-ca" else pki.ca
    with make(pki, True, TOKEN) as endpoint:
        cpu(tmp_path / "cgroup", "none", 0)
        status = run_edge(options(tmp_path, endpoint.url, ca, token_file, once=True, now=T0,
                                  log_format="json"))
        assert status == 1
        assert endpoint.api.writes() == []
        if case == "wrong-ca":  # refused in the handshake: no request reached the endpoint
            assert endpoint.received() == 0
    err = capsys.readouterr().err
    (error,) = [line for line in err.splitlines() if line.startswith("error: ")]
    assert expected in error
    assert_no_secret(err)


@pytest.mark.parametrize(("ca", "token", "named", "problem"), [
    pytest.param("missing", "ok", "ca.crt", "FileNotFoundError", id="ca-missing"),
    pytest.param("empty", "ok", "ca.crt", "no PEM certificate", id="ca-empty"),
    pytest.param("garbage", "ok", "ca.crt", "no PEM certificate", id="ca-not-pem"),
    pytest.param("directory", "ok", "ca.crt", "IsADirectoryError", id="ca-directory"),
    pytest.param("ok", "missing", "token", "FileNotFoundError", id="token-missing"),
    pytest.param("ok", "empty", "token", "the file is empty", id="token-empty"),
    pytest.param("ok", "directory", "token", "IsADirectoryError", id="token-directory"),
    pytest.param("ok", "unreadable", "token", "PermissionError", id="token-unreadable"),
])
def test_unusable_ca_or_token_file_stops_the_start(
        ca: str, token: str, named: str, problem: str, pki: Pki, tmp_path: Path) -> None:
    files = {"ca.crt": ca, "token": token}
    for name, state in files.items():
        path = tmp_path / name
        if state == "ok":
            path.write_bytes(pki.ca.read_bytes() if name == "ca.crt" else TOKEN.encode())
        elif state == "empty":
            path.write_text("")
        elif state == "garbage":
            path.write_text("not a certificate\n")
        elif state == "directory":
            path.mkdir()
        elif state == "unreadable":
            path.write_text(TOKEN)
            path.chmod(0)
            if _can_read(path):
                pytest.skip("running as root: file permissions do not stop reads")
    with pytest.raises(UsageError) as raised:
        metaserver_connection(options(tmp_path, "https://127.0.0.1:10550", tmp_path / "ca.crt",
                                      tmp_path / "token"))
    message = str(raised.value)
    assert str(tmp_path / named) in message and problem in message
    assert "--metaserver-ca" in message and "--metaserver-token-file" in message
    assert_no_secret(message)


def _can_read(path: Path) -> bool:
    try:
        path.read_bytes()
    except PermissionError:
        return False
    return True


def test_tls_overrides_need_an_https_metaserver(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="need an https:// MetaServer"):
        metaserver_connection(options(tmp_path, "http://127.0.0.1:10550", tmp_path / "ca.crt"))


def test_https_defaults_to_the_pod_service_account(tmp_path: Path) -> None:
    """Through the real command line: `--metaserver https://...` alone takes the CA and the
    token from the service-account mount; outside a pod that is one line naming the file,
    exit status 2, no traceback."""
    if SERVICE_ACCOUNT_CA.exists() or SERVICE_ACCOUNT_TOKEN.exists():
        pytest.skip("running in a pod: the service account is mounted")
    result = subprocess.run(
        [sys.executable, "-m", "autoscaler", "edge", "--metaserver", "https://127.0.0.1:9",
         "--node-name", NODE, "--journal", str(tmp_path / "journal"), "--once"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: --metaserver https://127.0.0.1:9: CA file "
                           f"{SERVICE_ACCOUNT_CA}: cannot use it: FileNotFoundError"), line
    assert "Traceback" not in result.stderr


def _cli_has_tls_flags() -> bool:
    from autoscaler.cli import build_parser  # noqa: PLC0415 - only to look at the flags
    edge = build_parser().parse_args(["edge"])
    return hasattr(edge, "metaserver_ca") and hasattr(edge, "metaserver_token_file")


@pytest.mark.skipif(not _cli_has_tls_flags(),
                    reason="autoscaler/cli.py does not pass --metaserver-ca / "
                           "--metaserver-token-file to EdgeOptions yet")
@pytest.mark.parametrize(("ca", "token", "status", "fragment"), [
    pytest.param("ca", "token", 0, "", id="right-ca-and-token"),
    pytest.param("missing", "token", 2, "missing.crt: cannot use it: FileNotFoundError",
                 id="ca-missing"),
    pytest.param("ca", "missing", 2, "missing.token: cannot use it: FileNotFoundError",
                 id="token-missing"),
    pytest.param("other", "token", 1, "CERTIFICATE_VERIFY_FAILED", id="wrong-ca"),
])
def test_command_line_flags(ca: str, token: str, status: int, fragment: str, pki: Pki,
                            tmp_path: Path) -> None:
    """One pass of the real command against the HTTPS fake MetaServer, with the CA and the
    token given by flags; the token never on stderr."""
    files = {"ca": pki.ca, "other": pki.other_ca, "missing": tmp_path / "missing.crt"}
    token_file = write_token(tmp_path / "token", TOKEN) if token == "token" \
        else tmp_path / "missing.token"
    cpu(tmp_path / "cgroup", "none", 0)
    with _through_metaserver(pki, True, TOKEN) as endpoint:
        result = subprocess.run(
            [sys.executable, "-m", "autoscaler", "edge", "--metaserver", endpoint.url,
             "--metaserver-ca", str(files[ca]), "--metaserver-token-file", str(token_file),
             "--node-name", NODE, "--journal", str(tmp_path / "journal"),
             "--cgroup-root", str(tmp_path / "cgroup"), "--lease-namespace", "default",
             "--once", "--now", str(T0), "--log-format", "json"],
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
        assert endpoint.api.writes() == []  # a baseline pass: nothing to write yet
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr
    if fragment:
        (line,) = [x for x in result.stderr.splitlines() if x.startswith("error: ")]
        assert fragment in line
    assert_no_secret(result.stdout, result.stderr)
