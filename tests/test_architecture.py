"""The layering contract covers every module: a new autoscaler module must be listed."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_autoscaler_module_is_below_the_cli_in_the_import_contract() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    cli_contract = next(c for c in contracts if c["forbidden_modules"] == ["autoscaler.cli"])
    listed = set(cli_contract["source_modules"])
    modules = {f"autoscaler.{p.stem}" for p in (ROOT / "autoscaler").glob("*.py")} | {
        f"autoscaler.{p.name}" for p in (ROOT / "autoscaler").iterdir()
        if p.is_dir() and (p / "__init__.py").exists()}
    expected = modules - {"autoscaler.cli", "autoscaler.__main__", "autoscaler.__init__"}
    assert expected <= listed, f"add to the import contract: {sorted(expected - listed)}"


def test_algorithms_imports_only_the_standard_library_and_numpy() -> None:
    allowed_roots = {"algorithms", "numpy", "__future__"}
    stdlib = set(sys.stdlib_module_names)
    for path in (ROOT / "algorithms").glob("*.py"):
        for line in path.read_text().splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] in ("import", "from") and not line.startswith(" "):
                root = words[1].split(".")[0]
                assert root in allowed_roots or root in stdlib, f"{path.name}: {line}"
