"""Shared by every spec source: raw autoscaling/v2 spec JSON -> defaulted, validated spec."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from algorithms.defaults import set_defaults
from algorithms.errors import CoreError, SpecError
from algorithms.slo.codec import FIELD as SLO_FIELD
from algorithms.slo.codec import parse_slo_spec, slo_wiring_errors
from algorithms.slo.model import SloSpec
from algorithms.spec import HorizontalPodAutoscalerSpec
from algorithms.spec_codec import parse_spec
from algorithms.validation import validate_spec

EXTENSION_FIELDS = ("dryRun", "syncPeriodSeconds", "metricsSource", "metricQueries",
                    "sloRecommender")


def checked_spec(raw: Any, path: str = "spec"
                 ) -> tuple[HorizontalPodAutoscalerSpec | None, tuple[str, ...]]:
    """(spec, ()) when valid, else (None, every error with its field path)."""
    if isinstance(raw, Mapping):
        raw = {k: v for k, v in raw.items() if k not in EXTENSION_FIELDS}
    try:
        spec = set_defaults(parse_spec(raw, path))
    except SpecError as exc:
        return None, tuple(str(e) for e in exc.errors)
    except (CoreError, RecursionError) as exc:  # not a field error: still only this spec's
        return None, (f"{path}: Invalid value: {type(exc).__name__}: {str(exc)[:200]}",)
    errors = validate_spec(spec, path)
    if errors:
        return None, tuple(str(e) for e in errors)
    return spec, ()


def checked_slo(raw: Any, spec: HorizontalPodAutoscalerSpec | None, path: str = "spec"
                ) -> tuple[SloSpec | None, tuple[str, ...]]:
    """`sloRecommender` beside the spec: (block, ()) when usable, else (None, every error).
    Also refuses the recommender's metric without the block (a spec is None when invalid
    already: then only the block's own fields are checked)."""
    block = raw.get(SLO_FIELD) if isinstance(raw, Mapping) else None
    slo = None
    errors: list[str] = []
    if block is not None:
        try:
            slo = parse_slo_spec(block, f"{path}.{SLO_FIELD}")
        except SpecError as exc:
            errors.extend(str(e) for e in exc.errors)
    if spec is not None and not errors:
        errors.extend(str(e) for e in slo_wiring_errors(spec, slo, path))
    return (None if errors else slo), tuple(errors)
