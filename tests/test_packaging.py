"""Packaging: every distribution the code imports is declared (in the base dependencies, or
in the extra of the only code that uses it); the wheel carries no test harness; installed
alone into a fresh venv, `autoscaler run --help` imports neither matplotlib nor aiohttp nor
the harness (measured with -X importtime); without an extra, its command says what to
install instead of a traceback."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from autoscaler.errors import UsageError

ROOT = Path(__file__).resolve().parent.parent
OURS = {"algorithms", "autoscaler"}
# Code under these prefixes may use the extra's distributions; everything else only the base.
EXTRAS = {"autoscaler/replay/plot.py": "replay", "autoscaler/llmproxy/": "proxy"}


def _normal(name: str) -> str:
    """PEP 503: prometheus_client and prometheus-client are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(requirements: list[str] | None, extra: str | None) -> set[str]:
    names: set[str] = set()
    for requirement in requirements or []:
        marker = requirement.partition(";")[2]
        if (extra is None) == ("extra ==" not in marker) and (
                extra is None or f'"{extra}"' in marker):
            names.add(_normal(re.split(r"[ <>=!~\[;(]", requirement, maxsplit=1)[0]))
    return names


def _declared() -> dict[str | None, set[str]]:
    requires = importlib.metadata.requires("edge-autoscaler")
    return {extra: _requirement_names(requires, extra) for extra in (None, "replay", "proxy")}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names - OURS - set(sys.stdlib_module_names) - {"__future__"}


def _shipped_sources() -> list[Path]:
    return sorted(p for package in OURS for p in (ROOT / package).rglob("*.py")
                  if "testing" not in p.relative_to(ROOT).parts)


@pytest.mark.parametrize("path", [
    pytest.param(p, id=p.relative_to(ROOT).as_posix()) for p in _shipped_sources()
    if _imports(p)
])
def test_every_imported_distribution_is_declared(path: Path) -> None:
    declared = _declared()
    relative = path.relative_to(ROOT).as_posix()
    extra = next((e for prefix, e in EXTRAS.items() if relative.startswith(prefix)), None)
    allowed = declared[None] | (declared[extra] if extra else set())
    owners = importlib.metadata.packages_distributions()
    for module in _imports(path):
        distributions = {_normal(d) for d in owners.get(module, [])}
        assert distributions, f"{relative}: {module} belongs to no installed distribution"
        assert distributions & allowed, (
            f"{relative} imports {module} ({', '.join(sorted(distributions))}), declared in "
            f"{'the base' if extra is None else f'the base or [{extra}]'}: no")


def test_the_extras_hold_what_the_issue_says() -> None:
    declared = _declared()
    assert "matplotlib" in declared["replay"] and "matplotlib" not in declared[None]
    assert "aiohttp" in declared["proxy"] and "aiohttp" not in declared[None]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                           "--wheel-dir", str(out), str(ROOT)], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    (built,) = out.glob("edge_autoscaler-*.whl")
    return built


def test_the_wheel_has_no_test_harness(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.startswith("autoscaler/testing/")]
    assert "autoscaler/data/AzureLLMInferenceTrace_code.csv" in names
    assert any(n.endswith("licenses/LICENSE") for n in names)


def test_run_help_from_the_wheel_imports_no_extra(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True, timeout=120, capture_output=True)
    # The dependencies come from this venv's site-packages, added as a plain path: its .pth
    # files (the editable install of the checkout) are not processed, so the package
    # imported is the wheel's.
    site = Path(sysconfig.get_paths()["purelib"])
    fresh_site = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True).stdout.strip())
    (fresh_site / "deps.pth").write_text(f"{site}\n", encoding="utf-8")
    done = subprocess.run([str(python), "-X", "importtime", str(venv / "bin" / "autoscaler"),
                           "run", "--help"], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage: autoscaler run" in done.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:")}
    for heavy in ("matplotlib", "aiohttp", "autoscaler.testing", "autoscaler.replay.plot",
                  "autoscaler.llmproxy.proxy"):
        assert heavy not in imported, heavy
    where = subprocess.run([str(python), "-c", "import autoscaler; print(autoscaler.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, check=True).stdout
    assert where.startswith(str(fresh_site)), where


def test_replay_without_matplotlib_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from autoscaler.replay import simulate  # noqa: PLC0415

    # A None entry makes `import matplotlib(.anything)` raise ImportError, loaded or not.
    for name in [m for m in sys.modules if m.split(".")[0] == "matplotlib"] + ["matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "autoscaler.replay.plot", raising=False)
    with pytest.raises(UsageError) as caught:
        simulate.plot_sink(tmp_path / "replay.png", "requests")
    assert "pip install 'edge-autoscaler[replay]'" in str(caught.value)
    assert "--no-plot" in str(caught.value)


def test_llm_proxy_without_aiohttp_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from autoscaler.llmproxy import cli  # noqa: PLC0415

    for name in [m for m in sys.modules if m.split(".")[0] == "aiohttp"] + ["aiohttp"]:
        monkeypatch.setitem(sys.modules, name, None)
    for name in ("autoscaler.llmproxy.proxy", "autoscaler.llmproxy.logscrub"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    assert cli.run_from_args(cli.build_parser().parse_args(["--upstream",
                                                             "http://127.0.0.1:1"])) == 2
    assert "pip install 'edge-autoscaler[proxy]'" in capsys.readouterr().err


# `autoscaler` builds every subcommand's parser, so these flag definitions of `replay` and
# `llm-proxy` load with any command; nothing else of theirs may.
PARSER_MODULES = {
    "autoscaler.replay", "autoscaler.replay.arguments", "autoscaler.replay.flag_types",
    "autoscaler.replay.from_prometheus", "autoscaler.replay.input_errors",
    "autoscaler.replay.limits", "autoscaler.replay.settings",
    "autoscaler.llmproxy", "autoscaler.llmproxy.cli",
}
# What `run` and `edge` must never load: the plot, the proxy's server, the simulator, and
# weight they do not need (numpy; the generated CoreV1Api, ~21 MB: autoscaler.kube.core).
NEVER_IN_RUN_OR_EDGE = ("matplotlib", "aiohttp", "numpy", "autoscaler.testing",
                        "kubernetes.client.api.core_v1_api")


def _pass_imports(command: list[str], tmp_path: Path) -> set[str]:
    """The modules one real pass of `autoscaler <command> --once` loaded (-X importtime
    through the console script), after checking it did its job."""
    script = Path(sys.executable).parent / "autoscaler"
    done = subprocess.run([sys.executable, "-X", "importtime", str(script), *command,
                           "--once", "--now", "1800000000", "--log-format", "json"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()
            if line.startswith("import time:")}


def test_run_and_edge_load_no_replay_proxy_or_plot_code(tmp_path: Path) -> None:
    from autoscaler.testing import FakeApiServer, write_kubeconfig  # noqa: PLC0415

    with FakeApiServer() as api:
        api.register_kind("edgeautoscaler.io", "v1alpha1", "ElasticAutoscaler",
                          "elasticautoscalers", subresources=("status",))
        api.create({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "web", "namespace": "default"},
                    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}}})
        api.create({"apiVersion": "edgeautoscaler.io/v1alpha1", "kind": "ElasticAutoscaler",
                    "metadata": {"name": "web", "namespace": "default"},
                    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                                "name": "web"},
                             "minReplicas": 1, "maxReplicas": 4,
                             "metrics": [{"type": "Resource", "resource": {
                                 "name": "cpu", "target": {"type": "Utilization",
                                                           "averageUtilization": 50}}}]}})
        kubeconfig = write_kubeconfig(tmp_path / "kc", api.url)
        (tmp_path / "cgroup").mkdir()
        commands = {
            "run": ["run", "--kubeconfig", str(kubeconfig)],
            "edge": ["edge", "--metaserver", api.url, "--node-name", "edge-1", "--journal",
                     str(tmp_path / "journal"), "--cgroup-root", str(tmp_path / "cgroup"),
                     "--lease-namespace", "default"],
        }
        for name, command in commands.items():
            imported = _pass_imports(command, tmp_path)
            assert "autoscaler.control.loop" in imported, name  # it did run the loop
            ours = {m for m in imported
                    if m.startswith(("autoscaler.replay", "autoscaler.llmproxy"))}
            assert ours <= PARSER_MODULES, (name, sorted(ours - PARSER_MODULES))
            heavy = sorted(m for m in imported for never in NEVER_IN_RUN_OR_EDGE
                           if m == never or m.startswith(f"{never}."))
            assert not heavy, (name, heavy)
