"""Random closed-loop scenarios for the sequence-level differential test.

A scenario is a random valid autoscaling/v2 spec, controller settings and a simulated
workload (pods that start, become ready, flap, get deleted; CPU, per-pod, object and
external metrics following a random demand; API faults; manual `kubectl scale`; spec edits),
replayed as a sequence of `reconcile`-kind cases (tests/data/conformance/FORMAT-controller.md)
at irregular times chosen around window and period edges. The world follows the reference
model's writes, so both controllers see the same observations at every step.

Everything is drawn from one `random.Random(seed)`: a seed reproduces a scenario exactly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

T0 = 1_000_000.0
ZERO_TIME = -62135596800.0
SELECTOR = "app=demo"
NS = "test-namespace"


@dataclass
class Pod:
    name: str
    created: float
    running_at: float
    ready_at: float | None  # None: never becomes ready on its own
    ready: bool = False
    transition: float | None = None
    deleting: bool = False


@dataclass
class World:
    rng: random.Random
    request_milli: int
    replicas: int
    now: float
    pods: list[Pod] = field(default_factory=list)
    serial: int = 0
    demand: float = 1.0  # relative load: 1.0 = every pod at the target

    def __post_init__(self) -> None:
        for _ in range(self.replicas):
            self._add(self.now - self.rng.choice([30.0, 400.0, 3600.0]), warm=True)

    def _add(self, created: float, warm: bool = False) -> None:
        self.serial += 1
        running = created + (0.0 if warm else self.rng.uniform(0, 10))
        ready = None if self.rng.random() < 0.05 else running + self.rng.uniform(0, 45)
        pod = Pod(f"demo-{self.serial}", created, running, ready)
        if warm and ready is not None:
            pod.ready, pod.transition = True, ready
        self.pods.append(pod)

    def set_replicas(self, replicas: int) -> None:
        self.replicas = replicas
        live = [p for p in self.pods if not p.deleting]
        for _ in range(replicas - len(live)):
            self._add(self.now)
        for pod in sorted(live, key=lambda p: p.created)[replicas:]:
            if self.rng.random() < 0.5:
                pod.deleting = True  # terminating for one more step
            else:
                self.pods.remove(pod)

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.pods = [p for p in self.pods if not p.deleting or self.rng.random() < 0.3]
        for pod in self.pods:
            if not pod.ready and pod.ready_at is not None and self.now >= pod.ready_at:
                pod.ready, pod.transition = True, pod.ready_at
            elif self.now >= pod.running_at and self.rng.random() < 0.03:
                pod.ready = not pod.ready  # readiness flaps
                pod.transition = self.now - self.rng.uniform(0, seconds)
        self.demand = max(0.0, min(4.0, self.demand * self.rng.choice(
            [0.5, 0.8, 1.0, 1.0, 1.0, 1.25, 2.0]) + self.rng.choice([0.0, 0.0, 0.1, -0.1])))

    def pod_json(self, pod: Pod) -> dict[str, Any]:
        running = self.now >= pod.running_at
        return {"name": pod.name, "phase": "Running" if running else "Pending",
                "ready": ("True" if pod.ready else "False") if running else None,
                "ready_transition_time": pod.transition if pod.transition is not None
                else (pod.running_at if running else None),
                "start_time": pod.running_at if running else None,
                "deleting": pod.deleting, "labels": {"app": "demo"},
                "containers": [{"name": "app", "requests": {"cpu": f"{self.request_milli}m",
                                                            "memory": "256Mi"}}]}

    def sampled(self) -> list[Pod]:
        """Pods with a metrics sample: running for a while, some randomly missing."""
        return [p for p in self.pods if self.now - p.running_at > 10
                and self.rng.random() > 0.05]

    def cpu_milli(self, target_percent: int) -> int:
        busy = len([p for p in self.pods if p.ready]) or 1
        per_pod = self.demand * self.replicas / busy * target_percent / 100 * self.request_milli
        return max(0, int(per_pod * self.rng.uniform(0.8, 1.2)))


def _quantity(milli: int) -> str:
    return f"{milli // 1000}" if milli % 1000 == 0 else f"{milli}m"


@dataclass
class Scenario:
    seed: int
    spec: dict[str, Any]
    controller: dict[str, Any]
    steps: int
    rng: random.Random
    world: World
    generation: int = 1


def _rules(rng: random.Random, up: bool) -> dict[str, Any] | None:
    if rng.random() < 0.25:
        return None
    rules: dict[str, Any] = {}
    if rng.random() < 0.7:
        rules["stabilizationWindowSeconds"] = rng.choice([0, 0, 15, 30, 60, 120, 300, 600])
    if rng.random() < 0.8:
        rules["policies"] = [
            {"type": rng.choice(["Pods", "Percent"]), "value": rng.choice([1, 2, 4, 10, 50,
                                                                           100, 200]),
             "periodSeconds": rng.choice([15, 30, 60, 120, 300, 1800])}
            for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.5:
        rules["selectPolicy"] = rng.choice(["Max", "Min", "Disabled"] if rng.random() < 0.2
                                           else ["Max", "Min"])
    if rng.random() < 0.3:
        rules["tolerance"] = rng.choice(["0", "50m", "100m", "200m"])
    return rules


def _metrics(rng: random.Random) -> list[dict[str, Any]]:
    choices = [
        lambda: {"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": rng.choice([30, 50, 80, 100])}}},
        lambda: {"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "AverageValue", "averageValue": rng.choice(["250m", "500m", "1"])}}},
        lambda: {"type": "Pods", "pods": {"metric": {"name": "in_flight"}, "target": {
            "type": "AverageValue", "averageValue": rng.choice(["1", "500m", "2"])}}},
        lambda: {"type": "Object", "object": {
            "describedObject": {"apiVersion": "v1", "kind": "Service", "name": "queue"},
            "metric": {"name": "queue_depth"}, "target": rng.choice([
                {"type": "Value", "value": rng.choice(["5", "10", "30"])},
                {"type": "AverageValue", "averageValue": rng.choice(["1", "3"])}])}},
        lambda: {"type": "External", "external": {"metric": {"name": "backlog"}, "target":
                                                  rng.choice([
                                                      {"type": "Value", "value": "20"},
                                                      {"type": "AverageValue",
                                                       "averageValue": rng.choice(["2", "5"])}])}},
    ]
    picked = rng.sample(range(len(choices)), rng.choice([1, 1, 1, 2, 2, 3]))
    return [choices[i]() for i in picked]


def scenario(seed: int) -> Scenario:
    rng = random.Random(seed)
    metrics = _metrics(rng)
    zero_ok = any(m["type"] in ("Object", "External") for m in metrics)
    low = rng.choice([0, 1, 1, 2]) if zero_ok else rng.choice([1, 1, 2, 3])
    high = low + rng.randint(1, 12)
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "demo"},
        "minReplicas": low, "maxReplicas": high, "metrics": metrics}
    if rng.random() < 0.6:
        behavior = {k: v for k, v in (("scaleUp", _rules(rng, True)),
                                      ("scaleDown", _rules(rng, False))) if v is not None}
        spec["behavior"] = behavior
    controller = {"tolerance": rng.choice([0.1, 0.1, 0.05, 0.2]),
                  "cpu_initialization_period": rng.choice([300.0, 120.0, 60.0]),
                  "delay_of_initial_readiness_status": rng.choice([30.0, 10.0]),
                  "downscale_stabilization_window": rng.choice([300.0, 300.0, 60.0, 0.0]),
                  "feature_gates": {gate: rng.random() > 0.15 for gate in (
                      "HPAScaleToZero", "HPAConfigurableTolerance", "HPAGeneration")}}
    world = World(rng, rng.choice([250, 500, 1000, 3000]), rng.randint(max(low, 0), high), T0)
    return Scenario(seed, spec, controller, rng.randint(20, 60), rng, world)


def gap(sc: Scenario) -> float:
    """Irregular sync times, often landing on window and period edges."""
    edges = [15.0, 15.0, 15.0, 1.0, 14.0, 16.0, 30.0, 59.0, 60.0, 61.0, 120.0, 299.0, 300.0,
             301.0, 600.0]
    return sc.rng.choice(edges) + sc.rng.choice([0.0, 0.0, 0.0, 0.5])


def case(sc: Scenario, status: dict[str, Any]) -> dict[str, Any]:
    """The reconcile-kind case of this step, with the given side's stored status."""
    rng, world = sc.rng, sc.world
    pods = [world.pod_json(p) for p in world.pods]
    sampled = world.sampled()
    target = next((m["resource"]["target"].get("averageUtilization", 100)
                   for m in sc.spec["metrics"] if m["type"] == "Resource"), 100)
    pod_metrics = {p.name: {"timestamp": world.now - rng.uniform(0, 20),
                            "window": rng.choice([15.0, 30.0, 60.0]),
                            "containers": {"app": {"cpu": _quantity(world.cpu_milli(target)),
                                                   "memory": "100Mi"}}}
                   for p in sampled}
    load = world.demand * max(world.replicas, 1)
    custom = {"pods": {"in_flight": {p.name: _quantity(int(world.demand * rng.uniform(
        500, 1500))) for p in sampled}},
        "objects": [{"apiVersion": "v1", "kind": "Service", "name": "queue",
                     "metric": "queue_depth", "value": _quantity(int(load * 3000))}]}
    external = {"backlog": [_quantity(int(load * rng.uniform(0, 2500)))
                            for _ in range(rng.randint(0, 3))]}
    errors = [k for k in ("resource", "custom", "external") if rng.random() < 0.05]
    scale: dict[str, Any] = {"spec_replicas": world.replicas,
                             "status_replicas": len([p for p in world.pods if not p.deleting]),
                             "selector": SELECTOR if rng.random() > 0.01 else ""}
    if rng.random() < 0.04:
        scale["get_error"] = True
    scale["update"] = rng.choice(["ok"] * 16 + ["conflict_then_ok", "error"])
    out: dict[str, Any] = {
        "kind": "reconcile", "now": world.now,
        "hpa": {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "test-hpa", "namespace": NS,
                             "generation": sc.generation},
                "spec": sc.spec, "status": status},
        "scale": scale, "pods": pods, "pod_metrics": pod_metrics, "custom_metrics": custom,
        "external_metrics": external, "metrics_api_errors": errors,
        "controller": sc.controller}
    if rng.random() < 0.02:
        out["other_hpa_selectors"] = [{"name": "other", "selector": SELECTOR}]
    return out


def perturb(sc: Scenario) -> str:
    """Between steps: a manual `kubectl scale`, a spec edit, or nothing."""
    rng = sc.rng
    roll = rng.random()
    if roll < 0.03:
        sc.world.set_replicas(rng.randint(0, sc.spec["maxReplicas"] + 2))
        return f"kubectl scale --replicas={sc.world.replicas}"
    if roll < 0.06:
        spec = dict(sc.spec)
        zero_ok = any(m["type"] in ("Object", "External") for m in spec["metrics"])
        spec["minReplicas"] = rng.choice([0, 1, 2] if zero_ok else [1, 2])
        spec["maxReplicas"] = max(spec["minReplicas"], rng.randint(1, 12))
        sc.spec = spec
        sc.generation += 1
        return f"spec edit: min {spec['minReplicas']} max {spec['maxReplicas']}"
    return ""
