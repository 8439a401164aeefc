"""The collector pause around large decodes (autoscaler/kube/decode.py): it resumes
exactly when the last concurrent decode ends, and never turns on a collector that was off."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from autoscaler.kube.decode import collector_paused, decode


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    was = gc.isenabled()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


@pytest.mark.parametrize("enabled", [pytest.param(True, id="on"),
                                     pytest.param(False, id="off")])
def test_restores_the_collector_as_it_was(enabled: bool) -> None:
    gc.enable() if enabled else gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled() is enabled


def test_resumes_after_an_error_in_the_conversion() -> None:
    gc.enable()

    def bad(document: object) -> None:
        raise ValueError(f"not a list: {document!r}")
    with pytest.raises(ValueError, match="not a list"):
        decode(b'{"a": 1}', bad)
    assert gc.isenabled()


def test_overlapping_decodes_resume_only_when_the_last_ends() -> None:
    gc.enable()
    first_in, release = threading.Event(), threading.Event()
    seen: list[bool] = []

    def first() -> None:
        with collector_paused():
            first_in.set()
            release.wait(10)

    thread = threading.Thread(target=first)
    thread.start()
    assert first_in.wait(10)
    with collector_paused():
        pass
    seen.append(gc.isenabled())  # the first still holds the pause
    release.set()
    thread.join(10)
    assert seen == [False]
    assert gc.isenabled()


def test_decodes_and_converts() -> None:
    assert decode('{"items": [1, 2]}', lambda d: sum(d["items"])) == 3
