"""The replay's input errors, in a module light enough for the command line to import.

`TraceError` names the file, the line and the problem (`<file>:<line>: <problem>`, lines
1-based); `UsageError` (the project's, re-exported) names a flag or an option that is wrong
or does not apply. Both are `autoscaler.errors.InputError`s: the command answers them with
one line and exit status 2.
"""

from __future__ import annotations

from pathlib import Path

from autoscaler.errors import InputError, UsageError

__all__ = ["TraceError", "UsageError"]


class TraceError(InputError):
    """A trace file cannot be read; the message names the file, the line and the problem."""

    def __init__(self, source: str | Path, line: int | None, problem: str) -> None:
        name = Path(source).name if isinstance(source, Path) else source
        where = f"{name}:{line}" if line is not None else name
        super().__init__(f"{where}: {problem}")
        self.source = str(source)
        self.line = line
        self.problem = problem
