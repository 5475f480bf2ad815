"""Turn pydantic validation errors into Problems a user can act on: path, what, got, fix."""

from __future__ import annotations

import difflib
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from raylight.errors import Problem

Loc = tuple[int | str, ...]


@dataclass(frozen=True)
class _Place:
    """What a pydantic `loc` points at once union tags are stripped out."""

    path: tuple[int | str, ...]
    model: type[BaseModel] | None  # model that owns the last key (for did-you-mean)
    field: FieldInfo | None  # the field itself, when it is a declared field
    tags: tuple[str, ...] = ()  # allowed tags when the place is a tagged union


def problems_from_validation(
    error: ValidationError, root: type[BaseModel], lines: dict[Loc, int]
) -> list[Problem]:
    """One Problem per pydantic error, with the YAML line when known."""
    problems = []
    for item in error.errors(include_url=False):
        place = _locate(root, tuple(item["loc"]))
        problems.append(
            Problem(
                path=format_path(place.path),
                message=_message(item, place),
                line=line_for(place.path, lines),
            )
        )
    return problems


def format_path(path: tuple[int | str, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def suggest(word: str, candidates: list[str]) -> str | None:
    matches = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return matches[0] if matches else None


# ------------------------------------------------------------------------------- messages
_BOUNDS = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", ">="),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "<="),
}


def _message(item: Any, place: _Place) -> str:
    kind, ctx, got = item["type"], item.get("ctx") or {}, item.get("input")
    hint = _describe(place.field)
    if kind == "extra_forbidden":
        allowed = list(place.model.model_fields) if place.model else []
        guess = suggest(str(place.path[-1]), allowed)
        if guess:
            return f"unknown field. Did you mean {guess!r}?"
        return f"unknown field; allowed here: {', '.join(allowed)}."
    if kind == "missing":
        return f"required field is missing.{hint}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        key = str(ctx.get("discriminator", "kind")).strip("'")
        tags = ", ".join(repr(t) for t in place.tags)
        if kind == "union_tag_not_found":
            return f"needs a '{key}' key, one of {tags}."
        guess = suggest(str(ctx.get("tag")), list(place.tags))
        fix = f" Did you mean {guess!r}?" if guess else ""
        return f"unknown {key} {ctx.get('tag')!r}; expected one of {tags}.{fix}"
    if kind == "literal_error":
        options = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        guess = suggest(str(got), options)
        fix = f" Did you mean {guess!r}?" if guess else ""
        return f"must be one of {', '.join(repr(o) for o in options)} (got {got!r}).{fix}"
    if kind in _BOUNDS:
        key, symbol = _BOUNDS[kind]
        return f"must be {symbol} {ctx.get(key)} (got {got!r})."
    if kind == "value_error":
        return str(item["msg"]).removeprefix("Value error, ")
    if kind == "string_pattern_mismatch":
        return f"has the wrong form (got {got!r}).{hint}"
    if kind == "too_short":
        return f"must not be empty (got {got!r}).{hint}"
    return f"{item['msg'][0].lower()}{item['msg'][1:]} (got {got!r}).{hint}"


def _describe(field: FieldInfo | None) -> str:
    return f" Expected: {field.description}" if field and field.description else ""


def line_for(path: tuple[int | str, ...], lines: dict[Loc, int]) -> int | None:
    """The line of `path`, or of its nearest ancestor that has one."""
    for end in range(len(path), 0, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


# --------------------------------------------------------------------------- type walking
def _locate(root: type[BaseModel], loc: Loc) -> _Place:
    """Follow `loc` through the model tree, dropping the tags pydantic inserts for unions."""
    annotation: Any = root
    path: list[int | str] = []
    model: type[BaseModel] | None = None
    field: FieldInfo | None = None
    for item in loc:
        annotation = _strip(annotation)
        members = _union_models(annotation)
        if len(members) > 1:
            chosen = _member_with_tag(members, item)
            if chosen is None:  # the tag itself is wrong: the place is the union
                return _Place(tuple(path), model, field, _tags(members))
            annotation = chosen
            continue
        if members:
            annotation = members[0]
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model, field = annotation, annotation.model_fields.get(str(item))
            path.append(item)
            annotation = field.annotation if field else None
        elif typing.get_origin(annotation) in (dict, list):
            path.append(item)
            annotation = typing.get_args(annotation)[-1]
            model, field = None, None
        else:
            path.append(item)
            annotation, model, field = None, None, None
    tags = _tags(_union_models(_strip(annotation)))
    return _Place(tuple(path), model, field, tags if len(tags) > 1 else ())


def _strip(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _union_models(annotation: Any) -> list[type[BaseModel]]:
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return []
    members = [_strip(arg) for arg in typing.get_args(annotation)]
    return [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]


def _literal_values(model: type[BaseModel]) -> list[str]:
    for field in model.model_fields.values():
        if typing.get_origin(field.annotation) is Literal:
            return [str(v) for v in typing.get_args(field.annotation)]
    return []


def _member_with_tag(members: list[type[BaseModel]], tag: Any) -> type[BaseModel] | None:
    for member in members:
        if str(tag) in _literal_values(member):
            return member
    return None


def _tags(members: list[type[BaseModel]]) -> tuple[str, ...]:
    return tuple(v for m in members for v in _literal_values(m)[:1])
