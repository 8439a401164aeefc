"""Every randomized test prints how to replay it: one Hypothesis seed for the whole run
(`--hypothesis-seed=N`) and the differential test's base seed (`DIFF_SEED=N`), both shown in
the report header, drawn fresh per run unless given."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import hypothesis.core
import pytest

from autoscaler.kube.client import Connection, connect
from autoscaler.testing import FakeApiServer, write_kubeconfig


def pytest_configure(config: pytest.Config) -> None:
    seed = config.getoption("--hypothesis-seed")
    if seed is None:
        seed = random.SystemRandom().randrange(2**32)
        hypothesis.core.global_force_seed = seed  # type: ignore[assignment]
    config.stash[SEED] = int(seed)
    os.environ.setdefault("DIFF_SEED", str(random.SystemRandom().randrange(2**32)))


def pytest_report_header(config: pytest.Config) -> str:
    seed = config.stash[SEED]
    return (f"random seeds: --hypothesis-seed={seed} DIFF_SEED={os.environ['DIFF_SEED']} "
            "(pass them to replay this run)")


SEED = pytest.StashKey[int]()


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    """An empty in-repo fake API server (a file that needs one seeded defines its own)."""
    with FakeApiServer() as server:
        yield server


@pytest.fixture
def connection(api: FakeApiServer, tmp_path: Path) -> Connection:
    """The official client against `api`, through a kubeconfig on disk (never in-cluster)."""
    return connect(str(write_kubeconfig(tmp_path / "kc", api.url)), in_cluster=False)
