"""``UpstreamController``: ``reconcileAutoscaler`` of horizontal.go for one reconcile-kind case.

``reconcile(case)`` returns::

    {"status": <HPA status after the call, autoscaling/v2 JSON: observedGeneration,
                lastScaleTime (float, case clock), currentReplicas, desiredReplicas,
                currentMetrics (quantities as Go Quantity.String() strings; a metric that
                failed in a partially failing computation is the zero MetricStatus
                {"type": ""}), conditions [{type, status, lastTransitionTime (float; the zero
                time is -62135596800.0), reason, message}]>,
     "status_written": bool, "rescale_attempted": bool, "scale_updated": bool,
     "new_replicas": int | None, "events": [{"type", "reason", "message"}], "error": str}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .behavior import normalize_legacy, normalize_with_behaviors, store_scale_event
from .history import History, Recommendation, history_from_dict, history_to_dict
from .metricspec import MetricStatus
from .metricsstep import compute_replicas_for_metrics
from .pods import GoError
from .state import ReconcileState, ReconcileStop
from .status import condition_is_true, remove_condition, semantic_equal, status_to_dict

GET_SCALE_ERROR = 'scales.autoscaling "test-rc" is forbidden (injected get error)'
UPDATE_ERROR = "the server rejected the scale update (injected)"


def _check_group_version(api_version: str) -> None:
    """``schema.ParseGroupVersion``: more than one '/' is an error."""
    if api_version not in ("", "/") and api_version.count("/") > 1:
        raise GoError(f"unexpected GroupVersion string: {api_version}")


class UpstreamController:
    """Per-HPA in-memory state (recommendations, scale events), keyed "namespace/name"."""

    def __init__(self) -> None:
        self._histories: dict[str, History] = {}

    def set_history(self, key: str, history: Mapping[str, Any] | None) -> None:
        """Preload the state of ``key`` from the FORMAT history JSON shape."""
        self._histories[key] = history_from_dict(history)

    def history(self, key: str) -> dict[str, Any]:
        """The state of ``key`` in the FORMAT history JSON shape."""
        return history_to_dict(self._histories.setdefault(key, History()))

    def reconcile(self, case: Mapping[str, Any]) -> dict[str, Any]:
        """One ``reconcileAutoscaler`` call on a reconcile-kind case (its ``history`` ignored)."""
        return _Reconcile(self._histories, case).run()


class _Reconcile(ReconcileState):
    def __init__(self, histories: dict[str, History], case: Mapping[str, Any]) -> None:
        super().__init__(histories, case)
        self.rescale_attempted = False
        self.scale_updated = False
        self.new_replicas: int | None = None

    def run(self) -> dict[str, Any]:
        try:
            error = self.reconcile()
        except ReconcileStop as stop:
            error = stop.error
        return {
            "status": status_to_dict(self.status),
            "status_written": not semantic_equal(self.original, self.status),
            "rescale_attempted": self.rescale_attempted,
            "scale_updated": self.scale_updated,
            "new_replicas": self.new_replicas,
            "events": self.events,
            "error": error,
        }

    def fail_get_scale(self, err: str) -> None:
        self.event("Warning", "FailedGetScale", err)
        self.set("AbleToScale", "False", "FailedGetScale",
                 f"the HPA controller was unable to get the target's current scale: {err}")

    def target_scale(self) -> int:
        ref = self.spec.get("scaleTargetRef") or {}
        try:
            _check_group_version(str(ref.get("apiVersion", "")))
        except GoError as err:
            self.fail_get_scale(str(err))
            raise ReconcileStop(f"invalid API version in scale target reference: {err}") from err
        if self.scale.get("get_error"):
            self.fail_get_scale(GET_SCALE_ERROR)
            raise ReconcileStop(
                f"failed to query scale subresource for {self.reference}: {GET_SCALE_ERROR}"
            )
        self.set("AbleToScale", "True", "SucceededGetScale",
                 "the HPA controller was able to get the target's current scale")
        return int(self.scale.get("spec_replicas", 0))

    def reconcile(self) -> str:
        current = self.target_scale()
        if self.history.recommendations is None:  # recordInitialRecommendation
            self.history.recommendations = [Recommendation(current, self.now)]
        min_value = self.spec.get("minReplicas")
        min_replicas = 1 if min_value is None else int(min_value)
        max_replicas = int(self.spec.get("maxReplicas", 0))
        metrics_spec: list[Mapping[str, Any]] = list(self.spec.get("metrics") or [])
        stz_gate = self.settings.gate("HPAScaleToZero")
        has_obj_ext = any(m.get("type") in ("Object", "External") for m in metrics_spec)
        stz_condition = stz_gate and condition_is_true(self.status, "ScaledToZero")

        desired, rescale, reason, ret_err = 0, True, "", ""
        metric_statuses: list[MetricStatus] | None = None
        needs_metrics = True
        if current == 0:
            needs_metrics = (min_replicas != 0 and stz_condition) or (stz_condition and has_obj_ext)
            if not needs_metrics:
                desired, rescale = 0, False
                self.set("ScalingActive", "False", "ScalingDisabled",
                         "scaling is disabled since the replica count of the target is zero")
                if not stz_gate:
                    remove_condition(self.status, "ScaledToZero")
        elif current > max_replicas:
            reason, desired = "Current number of replicas above Spec.MaxReplicas", max_replicas
            needs_metrics = False
        elif current < min_replicas:
            reason, desired = "Current number of replicas below Spec.MinReplicas", min_replicas
            needs_metrics = False

        if needs_metrics:
            proposal, metric_name, metric_statuses, ret_err = compute_replicas_for_metrics(
                self, metrics_spec, current
            )
            rescale_metric = ""
            if proposal > desired:
                desired, rescale_metric = proposal, metric_name
            if desired > current:
                reason = f"{rescale_metric} above target"
            if desired < current:
                reason = "All metrics below target"
            desired = self.normalize(current, desired, min_replicas, max_replicas)
            if current == 0 and min_replicas != 0 and stz_condition and desired < min_replicas:
                desired = min_replicas
                reason = reason or "Current number of replicas below Spec.MinReplicas"
            rescale = desired != current

        if rescale:
            self.rescale(current, desired, reason, min_replicas, has_obj_ext, metric_statuses)
        else:
            desired = current
        self.set_status(current, desired, metric_statuses, rescale)
        return ret_err

    def normalize(self, current: int, desired: int, min_replicas: int, max_replicas: int) -> int:
        """``normalizeDesiredReplicas`` / ``normalizeDesiredReplicasWithBehaviors``."""
        if self.behavior is None:
            result = normalize_legacy(self.history, self.now, self.settings, current, desired,
                                      min_replicas, max_replicas)
        else:
            result = normalize_with_behaviors(self.history, self.now, self.settings,
                                              self.behavior, current, desired, min_replicas,
                                              max_replicas)
        self.set("AbleToScale", "True", result.able_reason, result.able_message)
        self.set("ScalingLimited", result.limited_status, result.limited_reason,
                 result.limited_message)
        return result.replicas

    def rescale(self, current: int, desired: int, reason: str, min_replicas: int,
                has_obj_ext: bool, metric_statuses: list[MetricStatus] | None) -> None:
        """The scale update (``scale.update``: ok / conflict_then_ok / error) and its aftermath."""
        self.rescale_attempted = True
        self.new_replicas = desired
        if self.scale.get("update", "ok") == "error":
            self.event("Warning", "FailedRescale",
                       f"New size: {desired}; reason: {reason}; error: {UPDATE_ERROR}")
            self.set("AbleToScale", "False", "FailedUpdateScale",
                     f"the HPA controller was unable to update the target scale: {UPDATE_ERROR}")
            self.set_status(current, self.status.desired_replicas, metric_statuses, False)
            raise ReconcileStop(f"failed to rescale {self.reference}: {UPDATE_ERROR}")
        self.scale_updated = True
        self.set("AbleToScale", "True", "SucceededRescale",
                 f"the HPA controller was able to update the target scale to {desired}")
        self.event("Normal", "SuccessfulRescale", f"New size: {desired}; reason: {reason}")
        store_scale_event(self.behavior, self.history, self.now, current, desired)
        if self.settings.gate("HPAScaleToZero"):
            if current > 0 and desired == 0 and min_replicas == 0 and has_obj_ext:
                self.set("ScaledToZero", "True", "ScaledToZero",
                         "the HPA controller scaled the workload to zero")
            else:
                self.set("ScaledToZero", "False", "NotScaledToZero",
                         "the HPA controller did not scale the workload to zero")
        else:
            remove_condition(self.status, "ScaledToZero")
