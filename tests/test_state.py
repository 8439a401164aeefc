"""The persistence rule of `algorithms.state`, as tables: when a state must be saved, how a
saved state is restored (fresh: as is; stale: seeded), and how a pending write resolves."""

from __future__ import annotations

from dataclasses import replace

import pytest

from algorithms.history import ScaleEvent, TimestampedRecommendation
from algorithms.state import (
    ControllerState,
    PendingScale,
    RescaleEffects,
    coalescing_band,
    needs_save,
    resolve_pending,
    restore,
)
from algorithms.status import Condition, HPAStatus

T0 = 1_000_000.0


def rec(replicas: int, at: float) -> TimestampedRecommendation:
    return TimestampedRecommendation(replicas, T0 + at)


def state(*recs: TimestampedRecommendation, current: int = 4, observed: float = 0.0,
          events: tuple[ScaleEvent, ...] = ()) -> ControllerState:
    return ControllerState(recs or None, events, (), HPAStatus(current, current),
                           T0 + observed)


SAVED = state(rec(4, 0), current=4)


@pytest.mark.parametrize(("new", "save"), [
    pytest.param(state(rec(4, 0), rec(4, 15), current=4, observed=15), False,
                 id="steady-recommending-current-coalesces"),
    pytest.param(state(rec(4, 0), rec(5, 15), current=4, observed=15), True,
                 id="new-maximum-saves"),
    pytest.param(state(rec(4, 0), rec(3, 15), current=4, observed=15), True,
                 id="new-minimum-saves"),
    pytest.param(replace(SAVED, scale_up_events=(ScaleEvent(2, T0),)), True,
                 id="scale-event-saves"),
    pytest.param(replace(SAVED, status=HPAStatus(4, 4, conditions=(
        Condition("ScalingActive", "False", "FailedGetResourceMetric", "x", T0),))), True,
        id="condition-change-saves"),
    pytest.param(replace(SAVED, status=HPAStatus(4, 4, conditions=())), False,
                 id="same-status-no-save"),
    pytest.param(replace(SAVED, pending_scale=PendingScale(4, 6, T0, RescaleEffects(15, False))),
                 True, id="announced-write-saves"),
])
def test_needs_save(new: ControllerState, save: bool) -> None:
    assert needs_save(SAVED, new) is save


def test_band_spans_the_newest_recommendation_and_the_current_size() -> None:
    # held back by a window: current 4, newest recommendation 1 (older ones in any order)
    held = state(rec(1, 30), rec(4, 0), rec(1, 15), current=4)
    assert coalescing_band(held) == (1, 4)
    # so a later 2 or 3 coalesces, a 5 does not
    assert not needs_save(held, replace(held, recommendations=(
        *(held.recommendations or ()), rec(3, 45))))
    assert needs_save(held, replace(held, recommendations=(
        *(held.recommendations or ()), rec(5, 45))))


@pytest.mark.parametrize(("age", "current", "seeded"), [
    pytest.param(15.0, 4, (), id="fresh-one-period"),
    pytest.param(28.0, 4, (), id="fresh-under-1.9-periods"),
    pytest.param(29.0, 4, (4,), id="stale-seeds-current"),
    pytest.param(3600.0, 6, (4, 6), id="long-down-and-resized-seeds-both"),
    pytest.param(-5.0, 4, (4,), id="saved-in-the-future-is-not-trusted"),
])
def test_restore(age: float, current: int, seeded: tuple[int, ...]) -> None:
    back = restore(SAVED, T0 + age, current, 15.0)
    assert back.seeded == seeded
    assert back.state.recommendations == (
        *(SAVED.recommendations or ()), *(TimestampedRecommendation(v, T0 + age) for v in seeded))


def test_restore_without_memory_lets_the_first_pass_seed_like_upstream() -> None:
    back = restore(ControllerState(), T0, 3, 15.0)
    assert back.state.recommendations is None and back.seeded == ()


def test_restore_with_the_scale_unknown_keeps_the_pending_write() -> None:
    pending = replace(SAVED, pending_scale=PendingScale(4, 6, T0, RescaleEffects(15, False)))
    back = restore(pending, T0 + 300, None, 15.0)
    assert back.state.pending_scale is not None and back.pending == ""
    assert back.seeded == (4,)  # the band only: the current size is unknown


@pytest.mark.parametrize(("current", "how", "events"), [
    pytest.param(4, "dropped", (), id="still-at-from-never-written"),
    pytest.param(6, "applied", (ScaleEvent(2, T0),), id="at-to-written"),
    pytest.param(9, "applied", (ScaleEvent(2, T0),), id="elsewhere-counted-conservatively"),
])
def test_resolve_pending(current: int, how: str, events: tuple[ScaleEvent, ...]) -> None:
    pending = replace(SAVED, pending_scale=PendingScale(4, 6, T0, RescaleEffects(15, False)))
    back = resolve_pending(pending, current)
    assert back.pending == how
    assert back.state.pending_scale is None
    assert back.state.scale_up_events == events
    if how == "applied":
        assert back.state.status.desired_replicas == 6
        assert back.state.status.last_scale_time == T0


def test_seeds_never_exceed_the_current_size() -> None:
    """Found by the restart property (--hypothesis-seed=2675311375): a stale state saved
    before a scale-down write (status: 2 replicas) restored at 1 replica. On the legacy path
    the window's maximum is the recommendation, so a seed of 2 scaled back up to 2."""
    before_scale_down = state(rec(1, 0), current=2)
    back = restore(before_scale_down, T0 + 300, 1, 15.0)
    assert back.seeded == (1,)
    assert max(r.replicas for r in back.state.recommendations or ()
               if r.timestamp == T0 + 300) == 1
