"""An independent Python model of the Kubernetes HPA controller, used as a test oracle.

Written from upstream's Go source (``pkg/controller/podautoscaler`` at Kubernetes 1.37
development, commit 20f7c7f1da965c80923128dbdd0be7b0238d07c7, and the Tolerances version of
``replica_calculator.go``) and from ``tests/data/conformance/FORMAT*.md``.  It deliberately
shares no code with ``algorithms/`` or ``autoscaler/``; only the standard library is used.

Modules:

* ``goint``       -- Go integer wrapping and float-to-int conversions (saturating).
* ``quantity``    -- resource.Quantity parsing, MilliValue, AsApproximateFloat64, String().
* ``selector``    -- labels.Parse and metav1.LabelSelectorAsSelector.
* ``pods``        -- pods, groupPods, calculateRequests, ready-pod counting.
* ``metricsapi``  -- the metrics-API glue (metrics/client.go, metrics/utilization.go).
* ``calculator``  -- replica_calculator.go.
* ``settings``    -- controller flags and feature gates of a case.
* ``history``     -- the per-HPA recommendations and scale events, and their JSON shape.
* ``behavior``    -- behavior defaulting, stabilization, rate limits, scale events.
* ``status``      -- HPA status, conditions and semantic equality.
* ``metricspec``  -- per-metric computation of the controller (computeStatusFor*Metric).
* ``state``       -- the per-call state of one reconcileAutoscaler run.
* ``metricsstep`` -- validateAndParseSelector and computeReplicasForMetrics.
* ``controller``  -- ``UpstreamController`` (reconcileAutoscaler).
* ``conformance`` -- ``run_case`` for the three case kinds.
"""

from .controller import UpstreamController

__all__ = ["UpstreamController"]
