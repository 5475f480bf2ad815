"""Raylight's error types: every user-facing failure is one of these, and every one pickles."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec: where (dotted path, optional line), what, and how to fix it."""

    path: str
    message: str
    line: int | None = None

    def render(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class RaylightError(Exception):
    """Base class. The message is written for the user; no traceback is shown unless --debug."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[type, tuple[str]]:
        return (type(self), (self.message,))

    def __str__(self) -> str:
        return self.message


class SpecError(RaylightError):
    """A spec (file, override or sampled value) is invalid. Nothing was started."""

    exit_code = 2

    def __init__(self, source: str, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.source = source
        self.problems = tuple(problems)
        super().__init__(self._render())

    def __reduce__(self) -> tuple[type, tuple[str, tuple[Problem, ...]]]:  # type: ignore[override]
        return (type(self), (self.source, self.problems))

    def _render(self) -> str:
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        lines = [f"{self.source} has {count} {noun}; nothing was started."]
        for problem in self.problems:
            where = f"{self.source}:{problem.line}: " if problem.line else ""
            lines.append(f"  {where}{problem.render()}")
        return "\n".join(lines)


class ComponentError(RaylightError):
    """A `module:attr` builder named in a spec cannot be imported or called as specified."""

    exit_code = 2


class DataError(RaylightError):
    """The data does not match the spec (missing or non-numeric columns, empty split)."""

    exit_code = 2


class TargetError(RaylightError):
    """A path given on the command line is not a spec, run or checkpoint that can be used."""

    exit_code = 2


class ClusterError(RaylightError):
    """Ray cannot be reached, or the cluster cannot host what the spec asks for."""

    exit_code = 2


class RunError(RaylightError):
    """A training run or sweep started and failed. The message says where its logs are."""

    exit_code = 1


class JobError(RaylightError):
    """A Ray Jobs API call failed (unreachable, unauthorized, unknown job)."""

    exit_code = 1
