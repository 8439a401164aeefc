"""The SLO recommender's one error: it cannot answer for this pass.

`SloUnavailable` means "no number", never "zero pods": a missing input (no request finished
in the window, no token rate measured and none configured) or an input that is not a finite
non-negative number. Its message names the input and is shown to the user as the External
metric's failure (`MetricUnavailable`), e.g. "llm_slo_replicas: no decode rate measured (no
completion tokens in the last 60 s) and sloRecommender.pod.decodeTokensPerSecond is not set".
"""

from __future__ import annotations

from algorithms.errors import CoreError


class SloUnavailable(CoreError):  # noqa: N818 -- the name others code against: "unavailable"
    """The recommender cannot size the workload from this spec and observation."""
