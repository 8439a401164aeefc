"""The layering contract covers every module: a new autoscaler module must be listed."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _contracts() -> list[dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return contracts


def test_every_autoscaler_module_has_a_place_in_the_layers_contract() -> None:
    layers = next(c for c in _contracts() if c["type"] == "layers")
    listed = {name.strip() for layer in layers["layers"]  # type: ignore[attr-defined]
              for name in str(layer).split("|")}
    modules = {f"autoscaler.{p.stem}" for p in (ROOT / "autoscaler").glob("*.py")} | {
        f"autoscaler.{p.name}" for p in (ROOT / "autoscaler").iterdir()
        if p.is_dir() and (p / "__init__.py").exists()}
    # The test harness sits beside the layers (a separate contract keeps it out of them).
    expected = modules - {"autoscaler.__main__", "autoscaler.__init__", "autoscaler.testing"}
    assert expected <= listed, f"add to the layers contract: {sorted(expected - listed)}"
    assert "algorithms" in listed


def test_production_code_never_imports_the_test_harness() -> None:
    contract = next(c for c in _contracts()
                    if c.get("forbidden_modules") == ["autoscaler.testing"])
    assert "autoscaler" in contract["source_modules"]  # type: ignore[operator]


def test_algorithms_imports_only_the_standard_library_and_numpy() -> None:
    allowed_roots = {"algorithms", "numpy", "__future__"}
    stdlib = set(sys.stdlib_module_names)
    for path in (ROOT / "algorithms").rglob("*.py"):
        for line in path.read_text().splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] in ("import", "from") and not line.startswith(" "):
                root = words[1].split(".")[0]
                assert root in allowed_roots or root in stdlib, f"{path.name}: {line}"
