"""Steady syncs without `decide()`: the fluid cluster's quiet stretches, computed ahead.

Most syncs of a long replay change nothing: the same pods, all Ready and sampled, a CPU
reading that keeps the size. Such a sync's Plan is known without running the controller,
so the simulator computes stretches of them at once: the workload for up to MAX_HORIZON
sync periods in a few numpy calls, then per sync only the CPU sample, the proposal, the
stabilization bookkeeping and the decision record.

**When a sync is skipped.** The *anchor* is the last sync that ran `decide()`. It must not
have rescaled, its N pods (min <= N <= max, N >= 1) must all be Ready, and its metric
computation must have succeeded (one valid result, no error, a normalization). Every later
sync, up to the next one that runs `decide()`, is skipped only if all of these hold:

1. (per run) the spec has one metric, a Resource `cpu` metric with an Utilization target;
   the engine is the fluid one; the sync period is at least 1 s;
2. the metrics reach the controller (no partition hides them at that time);
3. every pod has a sample (metrics-server: it ran a whole window before the scrape;
   Prometheus: two scrapes in the window), read entirely from seconds it was Ready, so
   every pod's sample is the fluid engine's per-pod usage, the same number; and that
   sample is trusted as ready (`timestamp >= readyTime + window`). Then upstream's
   `groupPods` counts all N pods ready, none missing or unready, and `GetResourceReplicas`
   takes its first branch, computed here the same way: utilization
   `N*m*100 // (N*request)`, within tolerance -> N, else `ceil(ratio * N)`;
4. normalizing that proposal (stabilization windows, then the rate limits and min/max) gives
   N again, with ScalingLimited's status unchanged. It is computed by
   `algorithms.normalize.normalize_desired_replicas` itself, except when the proposal is N
   and no recommendation above N is inside the legacy window: then the answer cannot
   depend on the history (with a behavior, the scale-up window's min is <= N <= the
   scale-down window's max whatever it holds; on the legacy path the window's max is N),
   so the first answer for this N is reused.

Work that waits (a backlog) does not stop a stretch: those chunks go through the engine's
own `advance_chunk`, exactly as the per-chunk loop runs them.

**Why the result is identical.** Without a rescale, `decide` changes only the
recommendations, the status (current metric reading and conditions) and `observed_at`;
scale events, lastScaleTime and the desired size stay. The recommendation is recorded
exactly as `decide` records it: upstream's slot-reuse rule (the last slot whose entry has
left every window, else appended; `algorithms.stabilization`), so the next `decide()` sees
the very list it would have seen. The conditions: ScalingActive is set True with the same
message; AbleToScale (True) and ScalingLimited (same status) get the normalization's
reasons and messages, and as no status flips no transition time moves, so they equal the
anchor's conditions with those reasons and messages. The decision record is then
`(now, N, N, utilization, target, no rescale, "AbleToScale; ScalingLimited reasons")`, as
`records.decision_record` makes it. At the end of a stretch the controller's state is
rebuilt as the last skipped sync would have left it, and any sync failing a rule runs
`decide()` as usual (becoming the next anchor if it qualifies). Totals, delays and the
per-pod usage ring get the same float additions in the same order as chunk-by-chunk, so
the summaries are bit-identical; the timeline is reported in longer chunks (a chunk may
span several syncs, their decisions follow it).

`tests/test_replay_fast.py` replays random traces, specs and settings with and without
skipping (`SimulationSettings.skip_steady_syncs`) and requires identical decisions,
timelines, summaries and final controller state.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from algorithms.goints import MAX_INT32, MAX_INT64
from algorithms.history import TimestampedRecommendation
from algorithms.normalize import Normalized, NormalizeInput, normalize_desired_replicas
from algorithms.plan import Plan
from algorithms.policies import Events
from algorithms.proposals import tolerances_for
from algorithms.spec import RESOURCE, HorizontalPodAutoscalerSpec, HPAScalingRules
from algorithms.state import ControllerState
from algorithms.status import ABLE_TO_SCALE, SCALING_LIMITED, Condition
from autoscaler.replay.fluid import FluidEngine, ServedAhead
from autoscaler.replay.model import DecisionRecord, ReplaySink, StepChunk, step_chunk
from autoscaler.replay.observe import latest_scrape
from autoscaler.replay.records import kept_reason
from autoscaler.replay.settings import SimulationSettings
from autoscaler.replay.sim_pods import PodSet

if TYPE_CHECKING:
    from autoscaler.replay.cluster import Controller, Totals

# Syncs computed ahead per stretch: the first stretch after an anchor is short (the next
# sync is often the one that changes something), later ones grow to amortise numpy calls.
FIRST_HORIZON = 8
MAX_HORIZON = 1024

_NormalizedKey = tuple[str, str, bool, str, str]


def _key(normalized: Normalized) -> _NormalizedKey:
    """What a normalization writes into the conditions."""
    return (normalized.stabilized.reason, normalized.stabilized.message,
            normalized.scaling_limited, normalized.limited.reason, normalized.limited.message)


def _cpu_utilization_target(spec: HorizontalPodAutoscalerSpec) -> int | None:
    """The spec's only metric as a `cpu` Utilization target, else None."""
    if len(spec.metrics) != 1:
        return None
    metric = spec.metrics[0]
    source = metric.resource
    if metric.type != RESOURCE or source is None or source.name != "cpu":
        return None
    target = source.target
    if target.average_value is not None or not target.average_utilization:
        return None
    return target.average_utilization if target.average_utilization > 0 else None


class _Slots:
    """The recommendation list as `decide` keeps it, updated in O(log K) instead of a scan.

    `decide` stores each new recommendation in the *last* slot (highest index) whose entry
    has left every window, or appends it (`algorithms.stabilization`, upstream's rule). An
    entry that has left the windows never comes back into them (the cutoff only grows), so
    the entries still inside are kept in time order and move to a max-heap of free slots as
    the cutoff passes them. On the legacy path `above` counts the entries inside the window
    that are above the current size (they would raise the stabilized size)."""

    def __init__(self, recommendations: tuple[TimestampedRecommendation, ...], size: int
                 ) -> None:
        self.items = list(recommendations)
        self.size = size
        self.inside = deque(sorted((rec.timestamp, index)
                                   for index, rec in enumerate(recommendations)))
        self.free: list[int] = []  # negated indices: heapq is a min-heap
        self.above = sum(1 for rec in recommendations if rec.replicas > size)

    def expire(self, cutoff: float) -> None:
        """Entries stamped before `cutoff` leave the windows (`rec.timestamp < cutoff`)."""
        inside = self.inside
        while inside and inside[0][0] < cutoff:
            _, index = inside.popleft()
            heapq.heappush(self.free, -index)
            if self.items[index].replicas > self.size:
                self.above -= 1

    def slot(self) -> int | None:
        """Where the next recommendation goes (None: appended)."""
        return -self.free[0] if self.free else None

    def record(self, rec: TimestampedRecommendation) -> None:
        if self.free:
            index = -heapq.heappop(self.free)
            self.items[index] = rec
        else:
            index = len(self.items)
            self.items.append(rec)
        self.inside.append((rec.timestamp, index))  # the newest: stamped at the latest sync
        if rec.replicas > self.size:
            self.above += 1


class SteadySyncs:
    """Skips the steady syncs of one HPA policy on the fluid engine (see the module doc)."""

    def __init__(self, policy: str, controller: Controller, engine: FluidEngine,
                 pods: PodSet, settings: SimulationSettings, totals: Totals,
                 sink: ReplaySink, duration: int, target: int) -> None:
        self.policy = policy
        self.controller = controller
        self.engine = engine
        self.pods = pods
        self.settings = settings
        self.totals = totals
        self.sink = sink
        self.duration = duration
        self.target = target
        spec = controller.spec
        config = settings.controller
        self.period = config.sync_period_seconds
        self.min_replicas = 1 if spec.min_replicas is None else spec.min_replicas
        self.max_replicas = spec.max_replicas
        self.request = settings.lifecycle.cpu_request_milli
        self.tolerances = tolerances_for(spec, config)
        metrics = settings.metrics
        self.prometheus = metrics.kind == "prometheus"
        self.resolution = metrics.resolution_seconds
        self.window = metrics.window_seconds
        self.behavior = spec.behavior
        # The windows a recommendation must have left before its slot is reused
        # (algorithms.normalize / algorithms.stabilization).
        # A recommendation leaves every window once stamped before `now - longest_window`
        # (`now - a <= now - b` exactly when a >= b, so this is the min of the cutoffs).
        self.longest_window: float
        if self.behavior is None:
            self.longest_window = config.downscale_stabilization_window_seconds
        else:
            up = self.behavior.scale_up or HPAScalingRules()
            down = self.behavior.scale_down or HPAScalingRules()
            self.longest_window = max(
                up.stabilization_window_seconds or 0,
                down.stabilization_window_seconds
                if down.stabilization_window_seconds is not None
                else int(config.downscale_stabilization_window_seconds))
        self.armed = False
        self.horizon = FIRST_HORIZON
        # The anchor, set by `observe`.
        self.replicas = 0
        self.anchor_key: _NormalizedKey | None = None
        self.limited = False  # the anchor's ScalingLimited status
        self.equal_answer: tuple[_NormalizedKey, int] | None = None
        # The conditions and record reason of each normalization outcome met since the
        # anchor; `key`, `conditions` and `reason` are the last skipped sync's.
        self.variants: dict[_NormalizedKey, tuple[tuple[Condition, ...], str]] = {}
        self.key: _NormalizedKey | None = None
        self.conditions: tuple[Condition, ...] = ()
        self.reason = ""
        self.state = ControllerState()
        self.slots = _Slots((), 0)
        self.latest_started = 0.0
        self.latest_ready = 0.0

    @staticmethod
    def for_run(policy: str, controller: Controller | None, engine: object, pods: PodSet,
                settings: SimulationSettings, totals: Totals, sink: ReplaySink,
                duration: int) -> SteadySyncs | None:
        """A skipper when this run can have steady syncs (rule 1), else None."""
        if not settings.skip_steady_syncs or controller is None \
                or not isinstance(engine, FluidEngine):
            return None
        period = settings.controller.sync_period_seconds
        if not (math.isfinite(period) and period >= 1.0):
            return None
        target = _cpu_utilization_target(controller.spec)
        if target is None or settings.lifecycle.cpu_request_milli <= 0:
            return None
        return SteadySyncs(policy, controller, engine, pods, settings, totals, sink,
                           duration, target)

    def observe(self, plan: Plan, record: DecisionRecord, now: int) -> None:
        """After a sync that ran `decide()`: arm with it as the anchor if it qualifies."""
        self.armed = False
        pods = self.pods.pods
        n = len(pods)
        normalized = plan.normalized
        state = self.controller.state
        if (plan.rescale or normalized is None or plan.error or len(plan.metric_results) != 1
                or plan.current_replicas != n or not self.min_replicas <= n <= self.max_replicas
                or n < 1 or len(state.status.current_metrics) != 1
                or state.recommendations is None):
            return
        latest_ready = max(p.ready_at for p in pods)
        if latest_ready > now:
            return
        key = _key(normalized)
        if self.replicas != n:
            self.equal_answer = None
        self.replicas = n
        self.anchor_key = self.key = key
        self.limited = key[2]
        self.conditions = state.status.conditions
        self.reason = record.reason
        self.variants = {key: (self.conditions, self.reason)}
        self.state = state
        self.slots = _Slots(state.recommendations, n)
        self.latest_started = max(p.started for p in pods)
        self.latest_ready = latest_ready
        self.horizon = FIRST_HORIZON
        self.armed = True

    def advance(self, t: int, next_sync: float) -> tuple[int, float, bool]:
        """From the sync at `t` (or the end of the last stretch), skip steady syncs.

        Returns (time reached, the next sync's `next_sync`, whether that sync is due now:
        its chunk is done and `decide()` must run at the time reached)."""
        ends, nexts, upcoming = self._syncs_ahead(next_sync)
        if not ends:
            self.armed = False
            return t, next_sync, False
        ahead = self.engine.serve_ahead(t, ends, self.replicas)
        engine = self.engine
        totals = self.totals
        n = self.replicas
        per_pod = ahead.per_pod
        records: list[DecisionRecord] = []
        pieces: list[StepChunk] = []
        reading = (0, 0)
        start = served_from = t  # served_from: start of the chunks served as they arrive
        result = (t, upcoming, False)
        for index, end in enumerate(ends):
            if engine.backlog == 0.0 and ahead.fits[index]:
                # advance_chunk's all-served path, computed ahead.
                engine.store_usage(start, per_pod[start - t:end - t])
                demand = ahead.sums[index]
                engine.delays.add_zeros(demand)
                totals.replica_seconds += n * (end - start)
                totals.arrived += demand
                totals.served += demand
                totals.queued = 0.0
            else:
                # Work waits: the engine's own chunk (the pods are the anchor's, all Ready).
                if served_from < start:
                    pieces.append(self._served(ahead, served_from, start))
                step = engine.advance_chunk(start, end, self.pods.pods)
                totals.add(step, end - start, n)
                pieces.append(step_chunk(start, end, n, n, step))
                served_from = end
            step_reading = self._skip(end)
            if step_reading is None:
                self.armed = False
                result = (end, nexts[index], True)  # this chunk done, its sync runs decide()
                start = end
                break
            reading = step_reading
            records.append(DecisionRecord(float(end), n, n, reading[1], self.target, False,
                                          self.reason))
            start = end
        else:
            result = (start, upcoming, False)
            self.horizon = min(2 * self.horizon, MAX_HORIZON)
        totals.max_replicas = max(totals.max_replicas, n)
        if served_from < start:
            pieces.append(self._served(ahead, served_from, start))
        self._commit(pieces, records, reading)
        return result

    def _syncs_ahead(self, next_sync: float) -> tuple[list[int], list[float], float]:
        """The next `horizon` syncs within the run: their times (the chunk ends, as
        `run_cluster` computes them), their `next_sync` values, and the one after."""
        ends: list[int] = []
        nexts: list[float] = []
        upcoming = next_sync
        for _ in range(self.horizon):
            end = math.ceil(upcoming)
            if end > self.duration:
                break
            ends.append(end)
            nexts.append(upcoming)
            upcoming += self.period
        return ends, nexts, upcoming

    def _skip(self, end: int) -> tuple[int, int] | None:
        """The sync at `end` if it is steady: (raw milli-cores, utilization); else None.
        Records its recommendation as `decide` would."""
        now = float(end)
        reading = self._reading(now)
        if reading is None:
            return None
        milli, utilization, proposal = reading
        n = self.replicas
        # Rule 5.
        slots = self.slots
        slots.expire(now - self.longest_window)  # = min(now - w) over the windows
        legacy_above = self.behavior is None and slots.above > 0
        if proposal == n and self.equal_answer is not None and not legacy_above:
            key, replicas = self.equal_answer
            stored = None
        else:
            state = self.state
            normalized = normalize_desired_replicas(NormalizeInput(
                current_replicas=n, desired_replicas=proposal, min_replicas=self.min_replicas,
                max_replicas=self.max_replicas, behavior=self.behavior,
                recommendations=tuple(slots.items),
                events=Events(state.scale_up_events, state.scale_down_events)),
                self.settings.controller, now)
            key, replicas = _key(normalized), normalized.replicas
            stored = normalized.stabilized.recommendations
            if proposal == n and not legacy_above:
                self.equal_answer = (key, replicas)
        if replicas != n or key[2] != self.limited:
            return None  # a rescale, or ScalingLimited flips (its transition time moves)
        if key != self.key and not self._switch(key):
            return None
        recommendation = TimestampedRecommendation(proposal, now)
        if stored is not None:
            slot = slots.slot()
            if len(stored) != len(slots.items) + (slot is None) or \
                    stored[len(slots.items) if slot is None else slot] != recommendation:
                raise AssertionError("the steady-sync slot rule disagrees with decide's")
        slots.record(recommendation)
        return milli, utilization

    def _reading(self, now: float) -> tuple[int, int, int] | None:
        """Rules 3 and 4, then upstream's `GetResourceReplicas` for N pods with the same
        sample: (milli-cores per pod, utilization, proposal); None if not that case."""
        partition = self.settings.partition
        if partition is not None and partition.cloud_blind(now) and not (
                self.controller.edge_fallback and partition.edge_writes(now)):
            return None
        # Every pod sampled over Ready seconds only, and trusted.
        window = self.window
        last = latest_scrape(now, self.resolution)
        if self.prometheus:
            first = last - math.floor((window - 1e-9) / self.resolution) * self.resolution
            if not self.latest_started <= first < last:
                return None
            stamp = now
        else:
            first = last - window
            if not self.latest_started <= first:
                return None
            stamp = last
        whole = math.floor(first)
        if whole < self.latest_ready or whole < 0 or math.floor(last) <= whole \
                or stamp < self.latest_ready + window:
            return None
        n = self.replicas
        milli = round(self.engine.usage_cores(self.pods.pods[0], first, last) * 1000)
        total = n * milli * 100
        if total > MAX_INT64:
            return None
        utilization = total // (n * self.request)
        if utilization > MAX_INT32:
            return None
        ratio = float(utilization) / float(self.target)
        if self.tolerances.is_within(ratio):
            return milli, utilization, n
        scaled = ratio * float(n)
        return milli, utilization, MAX_INT32 if scaled > MAX_INT32 else math.ceil(scaled)

    def _switch(self, key: _NormalizedKey) -> bool:
        """Take the conditions of normalization outcome `key`; False if unknown."""
        variant = self.variants.get(key)
        if variant is None:
            variant = self._variant(key)
            if variant is None:
                return False
            self.variants[key] = variant
        self.key = key
        self.conditions, self.reason = variant
        return True

    def _variant(self, key: _NormalizedKey) -> tuple[tuple[Condition, ...], str] | None:
        """The anchor's conditions after a normalization with outcome `key` (same
        ScalingLimited status): AbleToScale's and ScalingLimited's reasons and messages
        replaced, as `decide` sets them from the normalization; statuses, and so transition
        times, unchanged. None if either condition is missing."""
        conditions = self.variants[self.anchor_key][0] if self.anchor_key else ()
        types = [c.type for c in conditions]
        if types.count(ABLE_TO_SCALE) != 1 or types.count(SCALING_LIMITED) != 1:
            return None
        changed = tuple(
            replace(c, reason=key[0], message=key[1]) if c.type == ABLE_TO_SCALE
            else replace(c, reason=key[3], message=key[4]) if c.type == SCALING_LIMITED
            else c for c in conditions)
        return changed, kept_reason(changed)

    def _served(self, ahead: ServedAhead, t0: int, t1: int) -> StepChunk:
        """Seconds [t0, t1) of `ahead`, all served as they arrived."""
        seconds = t1 - t0
        demand = ahead.demand[t0 - ahead.t0:t1 - ahead.t0]
        nothing = np.zeros(seconds)
        replicas = np.full(seconds, self.replicas, dtype=np.int64)
        return StepChunk(t_seconds=np.arange(t0, t1, dtype=np.float64), demand=demand,
                         capacity=np.full(seconds, ahead.capacity), replicas=replicas,
                         ready=replicas.copy(), served=demand, queued=nothing,
                         dropped=nothing, violation=np.zeros(seconds, dtype=bool))

    def _commit(self, pieces: list[StepChunk], records: list[DecisionRecord],
                reading: tuple[int, int]) -> None:
        """Report the chunks and the skipped syncs, and leave the controller's state as the
        last skipped sync would have."""
        for piece in pieces:
            self.sink.on_chunk(self.policy, piece)
        for record in records:
            self.sink.on_decision(self.policy, record)
        if records:
            status = self.state.status
            metric = status.current_metrics[0]
            milli, utilization = reading
            current = replace(metric.current, average_value_milli=milli,
                              average_utilization=utilization)
            self.state = replace(self.state, recommendations=tuple(self.slots.items),
                                 status=replace(status, current_metrics=(
                                     replace(metric, current=current),),
                                     conditions=self.conditions),
                                 observed_at=records[-1].t_seconds)
            self.controller.state = self.state
