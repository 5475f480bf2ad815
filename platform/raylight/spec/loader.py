"""Load a spec: YAML file -> overrides -> validation, every problem reported at once."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from raylight.errors import Problem, SpecError
from raylight.spec.overrides import apply_overrides, parse_override
from raylight.spec.problems import Loc, line_for, problems_from_validation
from raylight.spec.schema import (
    Choice,
    Conditional,
    Distribution,
    Grid,
    RandInt,
    Spec,
    case_text,
)
from raylight.spec.yaml_numbers import compose_yaml, load_yaml

PROJECT_MARKERS = ("pyproject.toml", ".git")
TUNABLE_SECTIONS = ("train", "model")


@dataclass(frozen=True)
class LoadedSpec:
    """A validated spec plus where it came from, for resolving its relative paths."""

    spec: Spec
    path: Path
    tree: dict[str, Any] = field(repr=False)  # raw YAML + overrides, for Tune's per-trial overrides
    overrides: tuple[str, ...] = ()

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def project_root(self) -> Path:
        """Nearest ancestor holding pyproject.toml or .git: builders are imported from here."""
        for directory in (self.base_dir, *self.base_dir.parents):
            if any((directory / marker).exists() for marker in PROJECT_MARKERS):
                return directory
        return self.base_dir

    def resolve_path(self, value: str) -> Path:
        return resolve_spec_path(value, self.base_dir)

    @property
    def storage_path(self) -> Path:
        return self.resolve_path(self.spec.run.storage_path)

    @property
    def spec_hash(self) -> str:
        return spec_hash(self.spec)

    def with_overrides(self, overrides: Mapping[str, Any], source: str) -> LoadedSpec:
        """Re-validate with extra dotted overrides (used for Tune samples); raises SpecError."""
        tree = apply_overrides(self.tree, overrides)
        spec = validate_tree(tree, source, {})
        refused = loop_problems(spec, {})
        if refused:
            raise SpecError(source, refused)
        return LoadedSpec(spec=spec, path=self.path, tree=tree, overrides=self.overrides)


def resolve_spec_path(value: str, base_dir: Path) -> Path:
    """Absolute path for a spec value: `~` expanded, relative paths against the spec file."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base_dir / path).resolve()


# Fields added to the schema after runs were recorded by hash: left out of the hash while at
# their default, so an existing spec keeps its hash (and `--resume` finds its runs).
ADDED_FIELDS = (
    ("model", "pretrained"),
    ("model", "freeze"),
    ("serve", "max_image_pixels"),
    ("train", "loop", "datasets"),
    ("train", "loop", "columns"),
)


def spec_hash(spec: Spec) -> str:
    """Short, stable hash of the resolved spec: what /metadata and job metadata report."""
    tree = spec.model_dump(mode="json")
    for *parents, name in ADDED_FIELDS:
        owner: Any = spec
        branch = tree
        for part in parents:
            owner, branch = getattr(owner, part), branch[part]
        field = type(owner).model_fields.get(name)  # e.g. only user loops have datasets
        if field and branch.get(name) == field.get_default(call_default_factory=True):
            del branch[name]
    canonical = json.dumps(tree, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def load_spec(path: str | Path, overrides: Sequence[str] = ()) -> LoadedSpec:
    """Read, override and validate a spec file. Raises SpecError listing every problem."""
    spec_path = Path(path).expanduser().resolve()
    source = _display_name(spec_path)
    text = _read(spec_path, source)
    tree, lines = _parse_yaml(text, source)
    problems: list[Problem] = []
    parsed: dict[str, Any] = {}
    for item in overrides:
        result = parse_override(item)
        if isinstance(result, Problem):
            problems.append(result)
        else:
            parsed[result[0]] = result[1]
    tree = apply_overrides(tree, parsed)
    try:
        spec = validate_tree(tree, source, lines)
        problems.extend(_blame_overrides(loop_problems(spec, lines), parsed))
        problems.extend(check_search_space(spec, tree, lines))
    except SpecError as error:
        problems.extend(_blame_overrides(error.problems, parsed))
    if problems:
        raise SpecError(source, sorted(problems, key=lambda p: p.line or 1_000_000))
    loaded = LoadedSpec(spec=spec, path=spec_path, tree=tree, overrides=tuple(overrides))
    ensure_importable(loaded.project_root)
    return loaded


def ensure_importable(project_root: Path) -> None:
    """Put the project root on sys.path so `pipelines.digits.model:build_mlp` imports anywhere.

    Called once per entry point: when a spec is loaded, and when `raylight serve` is given a
    checkpoint instead of a spec (its builders import from the working directory). Workers get
    the same root through their runtime environment.
    """
    root = str(project_root)
    if root not in sys.path:
        sys.path.insert(0, root)


def validate_tree(tree: Mapping[str, Any], source: str, lines: dict[Loc, int]) -> Spec:
    try:
        return Spec.model_validate(dict(tree))
    except ValidationError as error:
        raise SpecError(source, problems_from_validation(error, Spec, lines)) from None


def loop_problems(spec: Spec, lines: dict[Loc, int]) -> list[Problem]:
    """Every train field the spec's loop kind would refuse or ignore, with what to do instead.

    These are checked after the schema (a checkpoint's stored spec is not re-judged by them),
    and before anything starts: at `raylight validate`, for every override and sampled value.
    """
    loop = spec.train.loop
    problems = []
    for dotted, instead in loop.refusals(spec.train):
        path = ("train", *dotted.split("."))
        value = _value_at(spec.model_dump(mode="json"), path)
        problems.append(
            Problem(
                ".".join(path),
                f"train.loop.kind {loop.kind!r} does not take this (got {value!r}); {instead}.",
                line_for(path, lines),
            )
        )
    return problems


def _value_at(tree: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        tree = tree[key]
    return tree


def _blame_overrides(problems: Sequence[Problem], overrides: Mapping[str, Any]) -> list[Problem]:
    """Point problems caused by a command-line override at the override, not at a YAML line."""
    blamed = []
    for problem in problems:
        culprit = next((p for p in overrides if _related(problem.path, p)), None)
        if culprit is None:
            blamed.append(problem)
        else:
            note = f" (set by override {culprit}={overrides[culprit]!r})"
            blamed.append(Problem(problem.path, problem.message + note, line=None))
    return blamed


def check_search_space(spec: Spec, tree: Mapping[str, Any], lines: dict[Loc, int]) -> list[Problem]:
    """Validate every tunable path by applying representative values exactly as a trial would.

    A typo in a search-space key (`train.optimizer.lrr`) or a value the field refuses (a choice
    of 0 workers) is a spec error before launch, not a failed trial an hour into the sweep.
    """
    if spec.tune is None:
        return []
    problems = []
    already = {p.path for p in loop_problems(spec, {})}  # reported for the spec itself
    for key, distribution in spec.tune.search_space.items():
        where = f"tune.search_space.{key}"
        line = lines.get(("tune", "search_space", key))
        if key.split(".")[0] not in TUNABLE_SECTIONS:
            allowed = " or ".join(f"{s}.*" for s in TUNABLE_SECTIONS)
            problems.append(Problem(where, f"only {allowed} paths can be tuned.", line))
            continue
        for overrides in _representative_overrides(key, distribution, spec.tune.search_space):
            try:
                sampled = validate_tree(apply_overrides(tree, overrides), "", {})
                refused = [p for p in loop_problems(sampled, {}) if p.path not in already]
                if refused:
                    raise SpecError("", refused)
            except SpecError as error:
                reasons = "; ".join(p.render() for p in error.problems)
                value = overrides[key]
                problems.append(
                    Problem(where, f"a sampled value {value!r} is invalid: {reasons}", line)
                )
                break
    return problems


def _representative_overrides(
    key: str, distribution: Distribution, space: Mapping[str, Distribution]
) -> list[dict[str, Any]]:
    """What a trial may apply for `key`; a conditional value comes with the value it needs."""
    if not isinstance(distribution, Conditional):
        return [{key: value} for value in representative_values(distribution)]
    parent = space[distribution.depends_on]
    assert isinstance(parent, Choice | Grid)  # checked by TuneSpec
    overrides = []
    for case, case_distribution in distribution.cases.items():
        condition = next(v for v in parent.values if case_text(v) == case)
        for value in representative_values(case_distribution):
            overrides.append({distribution.depends_on: condition, key: value})
    return overrides


def representative_values(distribution: Distribution) -> list[Any]:
    """Values a trial may receive: every discrete value, or both ends of a range."""
    assert not isinstance(distribution, Conditional)  # see _representative_overrides
    if isinstance(distribution, Choice | Grid):
        return list(distribution.values)
    if isinstance(distribution, RandInt):
        return [distribution.low, distribution.high - 1]
    return [distribution.low, distribution.high]


def with_lines(problems: Sequence[Problem], spec_path: Path) -> list[Problem]:
    """Problems found after loading (builders, weights), given the spec file's line numbers."""
    try:
        _, lines = _parse_yaml(spec_path.read_text(encoding="utf-8"), str(spec_path))
    except (OSError, SpecError):
        return list(problems)
    return [
        p
        if p.line is not None or not p.path
        else Problem(p.path, p.message, line_for(tuple(p.path.split(".")), lines))
        for p in problems
    ]


def _related(a: str, b: str) -> bool:
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def _display_name(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _read(path: Path, source: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(source, [Problem("", "file not found.")]) from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as error:
        raise SpecError(source, [Problem("", f"cannot be read ({error}).")]) from None


def _parse_yaml(text: str, source: str) -> tuple[dict[str, Any], dict[Loc, int]]:
    try:
        tree = load_yaml(text)
        node = compose_yaml(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(error, "problem", None) or str(error)
        raise SpecError(source, [Problem("", f"is not valid YAML: {reason}.", line)]) from None
    if not isinstance(tree, dict):
        kind = "empty" if tree is None else f"a {type(tree).__name__}"
        raise SpecError(source, [Problem("", f"must be a YAML mapping of sections (got {kind}).")])
    lines: dict[Loc, int] = {}
    _collect_lines(node, (), lines)
    return tree, lines


def _collect_lines(node: yaml.Node | None, path: Loc, lines: dict[Loc, int]) -> None:
    """Map each key path to the 1-based line it starts on, for `file:line` in messages."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = (*path, key_node.value)
            lines[child] = key_node.start_mark.line + 1
            _collect_lines(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            lines[child] = item.start_mark.line + 1
            _collect_lines(item, child, lines)
