"""Which other autoscalers might select a pod: the input of upstream's AmbiguousSelector check,
found in O(labels of the autoscaler's own pods) instead of O(autoscalers in the namespace).

Upstream's controller registers every HPA's selector and, at each reconcile, asks which of
them select any of this HPA's pods. `algorithms.proposals.other_owners` does that check on
`Observation.other_selectors`. Handing it every selector of the namespace costs a parse and a
match per other autoscaler per reconcile (1,000 autoscalers in 10 namespaces: ~100 each).

This index hands it a *superset of the matches* instead: a selector is filed under one of
its equality requirements (`app=web`, or each value of `app in (a, b)`), and the candidates
for a set of pods are the selectors filed under any (key, value) label of those pods, plus
the few selectors without an equality requirement (kept apart and always offered). A
selector that matches a pod requires its filed label on that pod, so it is among the
candidates; the check itself is unchanged, so its result is identical. Unparsable selectors
select nothing upstream (`labels.Nothing()`): they are not filed.

Worked example: a has `app=web`, b has `app=api`, c has `tier!=db`. A reconcile of a whose
pods carry {app: web, tier: front} gets candidates {c} (b is never looked at), and the
check finds c selects them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

from algorithms.labels import SelectorError, parse_selector

EQUALITIES = ("=", "in")  # parse_selector spells "==" as "="


class SelectorIndex:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._selectors: dict[str, tuple[str, str]] = {}  # key -> (namespace, selector)
        self._filed: dict[str, list[tuple[str, str, str]]] = {}  # key -> where it is filed
        self._by_label: dict[tuple[str, str, str], set[str]] = {}  # (ns, k, v) -> keys
        self._unfiled: dict[str, set[str]] = {}  # namespace -> keys without an equality

    def register(self, key: str, namespace: str, selector: str) -> None:
        """The autoscaler `key`'s current selector ("" or unparsable: selects nothing)."""
        with self._lock:
            if self._selectors.get(key) == (namespace, selector):
                return
            self._drop(key)
            if not selector:
                return
            try:
                parsed = parse_selector(selector)
            except SelectorError:
                return
            self._selectors[key] = (namespace, selector)
            equality = next((r for r in parsed.requirements if r.operator in EQUALITIES), None)
            if equality is None:
                self._unfiled.setdefault(namespace, set()).add(key)
                self._filed[key] = []
                return
            places = [(namespace, equality.key, value) for value in equality.values]
            for place in places:
                self._by_label.setdefault(place, set()).add(key)
            self._filed[key] = places

    def forget(self, key: str) -> None:
        with self._lock:
            self._drop(key)

    def candidates(self, key: str, namespace: str, pod_labels: Iterable[Mapping[str, str]]
                   ) -> tuple[tuple[str, str], ...]:
        """("namespace/name", selector) of the other autoscalers that may select any of the
        pods, sorted; keys are "source:namespace/name"."""
        with self._lock:
            found = set(self._unfiled.get(namespace, ()))
            by_label = self._by_label
            for labels in pod_labels:
                for label, value in labels.items():
                    keys = by_label.get((namespace, label, value))
                    if keys:
                        found |= keys
            found.discard(key)
            selectors = self._selectors
            return tuple(sorted((other.split(":", 1)[-1], selectors[other][1])
                                for other in found))

    def _drop(self, key: str) -> None:
        previous = self._selectors.pop(key, None)
        for place in self._filed.pop(key, ()):
            keys = self._by_label.get(place)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_label[place]
        if previous is not None:
            unfiled = self._unfiled.get(previous[0])
            if unfiled is not None:
                unfiled.discard(key)
