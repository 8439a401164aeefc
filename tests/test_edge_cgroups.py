"""Local pod CPU: cgroup v2 trees for both drivers and every QoS class, rates between two
readings, resets, malformed cpu.stat, vanished pods, and the Summary API parser."""

from __future__ import annotations

import errno
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from algorithms.observation import PodResourceUsage, ResourceMetricsData
from autoscaler.edge import cgroups
from autoscaler.edge.cgroups import (
    POD_CGROUP_CONTAINER,
    CpuSampler,
    LocalMetricsError,
    PodCgroup,
    PodCpuSample,
    cpu_rate,
    find_pod_cgroups,
    parse_stats_summary,
    read_usage_usec,
    runtime_container_id,
    sample_pod,
    to_resource_metrics,
)

UID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
OTHER_UID = "6f1c9a52-0d4e-4b7e-9a3c-2b8e5f7d1c00"
APP = "a1" * 32  # container ids: 64 hex digits
PAUSE = "b2" * 32
T0, T1 = 1_000.0, 1_010.0


def cpu_stat(usage_usec: int) -> str:
    return (f"usage_usec {usage_usec}\nuser_usec {usage_usec * 3 // 4}\n"
            f"system_usec {usage_usec // 4}\nnr_periods 12\nnr_throttled 0\n"
            "throttled_usec 0\nnr_bursts 0\nburst_usec 0\n")


def pod_dir(root: Path, driver: str, qos: str, uid: str) -> Path:
    if driver == "systemd":
        escaped = uid.replace("-", "_")  # systemd unit names keep "-" for nesting
        top = root / "kubepods.slice"
        if qos == "guaranteed":
            return top / f"kubepods-pod{escaped}.slice"
        return top / f"kubepods-{qos}.slice" / f"kubepods-{qos}-pod{escaped}.slice"
    top = root / "kubepods"
    return top / f"pod{uid}" if qos == "guaranteed" else top / qos / f"pod{uid}"


def container_dir(pod: Path, driver: str, container_id: str) -> Path:
    return pod / (f"cri-containerd-{container_id}.scope" if driver == "systemd" else container_id)


def write(directory: Path, usage_usec: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "cpu.stat").write_text(cpu_stat(usage_usec))


def make_pod(root: Path, driver: str, qos: str, uid: str, pod_usec: int, app_usec: int,
             pause_usec: int) -> Path:
    pod = pod_dir(root, driver, qos, uid)
    write(pod, pod_usec)
    write(container_dir(pod, driver, APP), app_usec)
    write(container_dir(pod, driver, PAUSE), pause_usec)
    return pod


def make_node_noise(root: Path) -> None:
    """What else lives in a real cgroup v2 root: none of it is a pod."""
    write(root / "system.slice" / "containerd.service", 123)
    write(root / "kubepods.slice", 1)
    write(root / "kubepods.slice" / "kubepods-burstable.slice", 1)
    write(root / "kubepods.slice" / "kubepods-besteffort.slice", 1)
    (root / "kubepods.slice" / "cpu.max").write_text("max 100000\n")


LAYOUTS = [pytest.param(driver, qos, id=f"{driver}-{qos}")
           for driver in ("systemd", "cgroupfs")
           for qos in ("guaranteed", "burstable", "besteffort")]


@pytest.mark.parametrize("driver, qos", LAYOUTS)
def test_two_samples_ten_seconds_apart_give_exact_cores(tmp_path: Path, driver: str,
                                                        qos: str) -> None:
    make_node_noise(tmp_path)
    pod = make_pod(tmp_path, driver, qos, UID, 1_000_000, 900_000, 10_000)
    assert find_pod_cgroups(tmp_path) == [PodCgroup(UID, qos, driver, pod)]
    sampler = CpuSampler(tmp_path)
    assert sampler.sample(T0) == {}  # one reading is no rate
    make_pod(tmp_path, driver, qos, UID, 6_000_000, 5_800_000, 20_000)
    (rate,) = sampler.sample(T1).values()
    # 5 s of CPU in 10 s = 0.5 cores; app 4.9 s -> 0.49; pause 10 ms -> 0.001.
    assert (rate.uid, rate.usage_nanocores, rate.usage_cores) == (UID, 500_000_000, 0.5)
    assert rate.containers_usage_nanocores == {APP: 490_000_000, PAUSE: 1_000_000}
    assert (rate.timestamp_seconds, rate.window_seconds) == (T1, 10.0)
    by_name = to_resource_metrics({UID: rate}, {UID: "llama-0"}, {APP: "llama"})
    assert by_name == ResourceMetricsData({"llama-0": PodResourceUsage(
        timestamp=T1, window_seconds=10.0, containers={"llama": {"cpu": 490}})})
    pod_level = to_resource_metrics({UID: rate}, {UID: "llama-0"})
    assert pod_level.pods["llama-0"].containers == {POD_CGROUP_CONTAINER: {"cpu": 500}}


def test_every_layout_on_one_node(tmp_path: Path) -> None:
    uids = {}
    for index, param in enumerate(LAYOUTS):
        driver, qos = param.values
        uid = f"{index:08x}-0000-4000-8000-000000000000"
        make_pod(tmp_path, str(driver), str(qos), uid, 1, 1, 1)
        uids[uid] = (qos, driver)
    found = {pod.uid: (pod.qos, pod.driver) for pod in find_pod_cgroups(tmp_path)}
    assert found == uids


def test_empty_or_missing_root_has_no_pods(tmp_path: Path) -> None:
    assert find_pod_cgroups(tmp_path / "absent") == []
    make_node_noise(tmp_path)
    assert find_pod_cgroups(tmp_path) == []


def sample(usage: int, at: float, **containers: int) -> PodCpuSample:
    return PodCpuSample(UID, usage, containers, at)


@pytest.mark.parametrize("previous, current", [
    pytest.param(sample(5_000_000, T0), sample(1_000, T1), id="counter-reset"),
    pytest.param(sample(5_000_000, T0), sample(4_999_999, T1), id="counter-decreased"),
    pytest.param(sample(1_000, T1), sample(2_000, T1), id="no-time-passed"),
    pytest.param(sample(1_000, T1), sample(2_000, T0), id="time-went-backwards"),
])
def test_backwards_counter_or_clock_rejects_the_sample(previous: PodCpuSample,
                                                       current: PodCpuSample) -> None:
    assert cpu_rate(previous, current) is None


def test_after_a_reset_the_next_interval_counts_again() -> None:
    sampler = CpuSampler(Path("/nonexistent"))
    sampler.update({UID: sample(5_000_000, T0)})
    assert sampler.update({UID: sample(100_000, T1)}) == {}
    (rate,) = sampler.update({UID: sample(2_100_000, T1 + 10)}).values()
    assert (rate.usage_nanocores, rate.window_seconds) == (200_000_000, 10.0)


def test_a_container_counter_going_back_drops_only_that_container() -> None:
    previous = sample(1_000_000, T0, app=800_000, sidecar=100_000)
    current = sample(3_000_000, T1, app=2_600_000, sidecar=50_000, new=10)
    rate = cpu_rate(previous, current)
    assert rate is not None
    assert rate.containers_usage_nanocores == {"app": 180_000_000}
    # The pod then lacks a named container: a missing pod, never a partial sum.
    assert to_resource_metrics({UID: rate}, {UID: "p"}, {"sidecar": "s"}).pods == {}


@given(st.integers(0, 2**63), st.integers(0, 2**63), st.floats(-100, 100, allow_nan=False))
def test_rates_are_never_negative(before: int, after: int, elapsed: float) -> None:
    rate = cpu_rate(sample(before, T0), sample(after, T0 + elapsed))
    assert rate is None or (rate.usage_nanocores >= 0 and rate.window_seconds > 0)


@pytest.mark.parametrize("text, line", [
    pytest.param("usage_usec 12\nuser_usec abc\n", 2, id="not-a-number"),
    pytest.param("usage_usec -5\n", 1, id="negative"),
    pytest.param("usage_usec 1 2\n", 1, id="extra-field"),
    pytest.param("usage_usec 1\n\nuser_usec 1\n", 2, id="blank-line"),
    pytest.param("usage_usec\t1\n", 1, id="tab"),
])
def test_malformed_cpu_stat_names_file_and_line(tmp_path: Path, text: str, line: int) -> None:
    path = tmp_path / "cpu.stat"
    path.write_text(text)
    with pytest.raises(LocalMetricsError, match=rf"^{re.escape(str(path))}:{line}: "):
        read_usage_usec(path)


def test_cpu_stat_without_usage_usec(tmp_path: Path) -> None:
    path = tmp_path / "cpu.stat"
    path.write_text("user_usec 1\nsystem_usec 2\n")
    with pytest.raises(LocalMetricsError, match=rf"{re.escape(str(path))}: no usage_usec"):
        read_usage_usec(path)


def test_malformed_pod_cpu_stat_fails_the_sample(tmp_path: Path) -> None:
    pod = make_pod(tmp_path, "systemd", "burstable", UID, 1, 1, 1)
    (pod / "cpu.stat").write_text("usage_usec lots\n")
    with pytest.raises(LocalMetricsError, match=r"cpu\.stat:1: "):
        CpuSampler(tmp_path).sample(T0)


def test_pod_vanishing_between_samples_is_missing_not_zero(tmp_path: Path) -> None:
    gone = make_pod(tmp_path, "systemd", "burstable", UID, 1_000, 1_000, 0)
    make_pod(tmp_path, "systemd", "besteffort", OTHER_UID, 1_000, 1_000, 0)
    sampler = CpuSampler(tmp_path)
    sampler.sample(T0)
    shutil.rmtree(gone)
    make_pod(tmp_path, "systemd", "besteffort", OTHER_UID, 11_000, 11_000, 0)
    assert set(sampler.sample(T1)) == {OTHER_UID}


@pytest.mark.parametrize("vanish", [
    pytest.param(shutil.rmtree, id="directory-removed"),
    pytest.param(lambda pod: (pod / "cpu.stat").unlink(), id="cpu-stat-removed"),
])
def test_pod_vanishing_between_listing_and_reading_is_skipped(tmp_path: Path,
                                                              vanish: Callable[[Path], object]
                                                              ) -> None:
    make_pod(tmp_path, "cgroupfs", "burstable", UID, 1, 1, 1)
    (listed,) = find_pod_cgroups(tmp_path)
    vanish(listed.path)
    assert sample_pod(listed, T0) is None


def test_cgroup_being_removed_reports_enodev_and_is_skipped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_pod(tmp_path, "systemd", "guaranteed", UID, 1, 1, 1)
    (listed,) = find_pod_cgroups(tmp_path)

    def enodev(path: Path) -> int:
        raise OSError(errno.ENODEV, "No such device", str(path))

    monkeypatch.setattr(cgroups, "read_usage_usec", enodev)
    assert sample_pod(listed, T0) is None


def test_unreadable_cgroup_is_an_error_not_a_missing_pod(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_pod(tmp_path, "systemd", "guaranteed", UID, 1, 1, 1)
    (listed,) = find_pod_cgroups(tmp_path)

    def eacces(path: Path) -> int:
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(cgroups, "read_usage_usec", eacces)
    with pytest.raises(PermissionError):
        sample_pod(listed, T0)


def test_exited_container_leaves_the_pod_sample(tmp_path: Path) -> None:
    pod = make_pod(tmp_path, "systemd", "burstable", UID, 5, 4, 1)
    shutil.rmtree(container_dir(pod, "systemd", PAUSE))
    sampled = sample_pod(find_pod_cgroups(tmp_path)[0], T0)
    assert sampled == PodCpuSample(UID, 5, {APP: 4}, T0)


def test_runtime_container_id() -> None:
    assert runtime_container_id(f"containerd://{APP}") == APP
    assert runtime_container_id(APP) == APP


# --- the kubelet/edged Summary API ---------------------------------------------------------

def summary(app_core_ns: int, time: str) -> dict[str, Any]:
    """A /stats/summary document as an edged node serves it (trimmed to what we read, plus
    some of what we ignore)."""
    return {
        "node": {"nodeName": "edge-node-1", "startTime": "2026-01-05T08:00:00Z",
                 "cpu": {"time": time, "usageNanoCores": 812345678,
                         "usageCoreNanoSeconds": 998877665544},
                 "memory": {"time": time, "workingSetBytes": 3221225472}},
        "pods": [
            {"podRef": {"name": "llama-7b-5d9c8-x2x9q", "namespace": "llm", "uid": UID},
             "startTime": "2026-01-05T08:01:00Z",
             "containers": [
                 {"name": "llama", "startTime": "2026-01-05T08:01:05Z",
                  "cpu": {"time": time, "usageNanoCores": 1503221004,
                          "usageCoreNanoSeconds": app_core_ns},
                  "memory": {"time": time, "workingSetBytes": 2147483648}},
                 {"name": "proxy", "startTime": "2026-01-05T08:01:05Z",
                  "cpu": {"time": time, "usageCoreNanoSeconds": 4_000_000}},
             ],
             "cpu": {"time": time, "usageNanoCores": 1510000000,
                     "usageCoreNanoSeconds": app_core_ns + 4_000_000},
             "memory": {"time": time, "workingSetBytes": 2160000000},
             "volume": [{"name": "models", "usedBytes": 4096}]},
            {"podRef": {"name": "edgemesh-agent-7xq", "namespace": "kubeedge",
                        "uid": OTHER_UID},
             "startTime": "2026-01-05T08:00:30Z",
             "containers": [{"name": "edgemesh-agent", "startTime": "2026-01-05T08:00:31Z",
                             "memory": {"time": time, "workingSetBytes": 1000}}]},
        ],
    }


def test_parse_stats_summary() -> None:
    parsed = parse_stats_summary(summary(120_000_000_000, "2026-01-05T09:00:00.5Z"))
    assert set(parsed) == {("llm", "llama-7b-5d9c8-x2x9q"), ("kubeedge", "edgemesh-agent-7xq")}
    llama = parsed["llm", "llama-7b-5d9c8-x2x9q"]
    assert llama.uid == UID
    assert llama.containers["llama"].usage_nanocores == 1503221004
    assert llama.containers["proxy"].usage_nanocores is None  # not yet computed by the kubelet
    assert llama.cpu is not None
    assert llama.cpu.time_seconds == 1767603600.5
    edgemesh = parsed["kubeedge", "edgemesh-agent-7xq"]
    assert (edgemesh.cpu, dict(edgemesh.containers)) == (None, {})
    assert edgemesh.to_sample() is None


def test_summary_counters_feed_the_same_sampler() -> None:
    key = ("llm", "llama-7b-5d9c8-x2x9q")
    sampler = CpuSampler(Path("/nonexistent"))
    for document in (summary(120_000_000_000, "2026-01-05T09:00:00Z"),
                     summary(135_000_000_000, "2026-01-05T09:00:10Z")):
        reading = parse_stats_summary(document)[key].to_sample()
        assert reading is not None
        rates = sampler.update({reading.uid: reading})
    assert rates[UID].usage_nanocores == 1_500_000_000  # 15 core-seconds in 10 s
    assert rates[UID].containers_usage_nanocores == {"llama": 1_500_000_000, "proxy": 0}
    assert rates[UID].window_seconds == 10.0


@pytest.mark.parametrize("edit, where", [
    pytest.param(lambda d: d["pods"][0].pop("podRef"), r"pods\[0\]\.podRef", id="no-podRef"),
    pytest.param(lambda d: d["pods"][1]["podRef"].update(uid=7), r"pods\[1\]\.podRef\.uid",
                 id="uid-not-string"),
    pytest.param(lambda d: d["pods"][0]["containers"][1]["cpu"].update(time="yesterday"),
                 r"pods\[0\]\.containers\[1\]\.cpu\.time", id="bad-time"),
    pytest.param(lambda d: d["pods"][0]["cpu"].update(usageCoreNanoSeconds="12"),
                 r"pods\[0\]\.cpu\.usageCoreNanoSeconds", id="counter-string"),
    pytest.param(lambda d: d["pods"][0]["containers"].append("x"),
                 r"pods\[0\]\.containers\[2\]", id="container-not-object"),
    pytest.param(lambda d: d.update(pods={}), r"pods", id="pods-not-list"),
])
def test_malformed_summary_names_the_json_path(edit: Callable[[dict[str, Any]], object],
                                               where: str) -> None:
    document = summary(1, "2026-01-05T09:00:00Z")
    edit(document)
    with pytest.raises(LocalMetricsError, match=where):
        parse_stats_summary(document)
