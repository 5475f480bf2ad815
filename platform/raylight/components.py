"""Resolve the `module:attr` builders a spec names, and check their signatures before Ray starts."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from raylight.errors import ComponentError, Problem, SpecError
from raylight.spec import LoadedSpec, load_spec
from raylight.spec.loader import with_lines
from raylight.spec.problems import suggest
from raylight.spec.schema import (
    BuilderSource,
    DataSource,
    HfTrainerLoop,
    LightningLoop,
    ModelSpec,
    TrainLoop,
)
from raylight.spec.train import UserFunctionLoop

# Arguments Raylight supplies itself when a model builder's signature asks for them.
# The image and text ones only when the data has an image or tokenize step.
MODEL_INJECTED_ARGS = (
    "num_features",
    "num_outputs",
    "categorical_cardinalities",
    "image_channels",
    "image_size",
    "vocab_size",
    "max_length",
    "pad_token_id",
    "pretrained",  # model.pretrained, when it is a from_pretrained directory
)
# ...and those a LightningDataModule builder (train.loop.datamodule) may ask for.
DATAMODULE_ARGS = ("preprocessing", "batch_size", "seed")


class ModelBuilder(Protocol):
    """What `model.builder` points at: returns a torch.nn.Module (kwargs from model.kwargs)."""

    def __call__(self, **kwargs: Any) -> Any: ...


class DataBuilder(Protocol):
    """What a `builder` data source points at: returns a file path or a pandas DataFrame."""

    def __call__(self, **kwargs: Any) -> Any: ...


def resolve(reference: str, field: str) -> Callable[..., Any]:
    """Import `module:attr` and return the callable; errors name the spec field."""
    module_name, _, attr_path = reference.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise ComponentError(
            f"{field}: cannot import module {module_name!r} ({error}). Builders are imported "
            "from the project root (the directory with pyproject.toml)."
        ) from None
    for part in attr_path.split("."):
        if not hasattr(target, part):
            public = [n for n in dir(target) if not n.startswith("_")]
            guess = suggest(part, public)
            fix = f" Did you mean {guess!r}?" if guess else ""
            raise ComponentError(f"{field}: {module_name!r} has no attribute {part!r}.{fix}")
        target = getattr(target, part)
    if not callable(target):
        raise ComponentError(f"{field}: {reference!r} is not callable.")
    return target


def check_kwargs(
    builder: Callable[..., Any],
    kwargs: Mapping[str, Any],
    field: str,
    injected: tuple[str, ...] = (),
) -> None:
    """Fail with the field name if the builder cannot accept `kwargs` (plus injected args)."""
    signature = inspect.signature(builder)
    params = signature.parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if not takes_any:
        for name in kwargs:
            if name not in params:
                guess = suggest(name, [p for p in params if p not in injected])
                fix = f" Did you mean {guess!r}?" if guess else ""
                raise ComponentError(
                    f"{field}.{name}: {builder.__name__}{signature} has no such argument.{fix}"
                )
    supplied = set(kwargs) | {name for name in injected if name in params}
    missing = [
        name
        for name, p in params.items()
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and name not in supplied
    ]
    if missing:
        raise ComponentError(
            f"{field}: {builder.__name__}{signature} needs {', '.join(missing)}; set them there."
        )


def call_model_builder(
    reference: str, kwargs: Mapping[str, Any], data_inputs: Mapping[str, Any]
) -> Any:
    """Build the user's model, passing the data's shape (MODEL_INJECTED_ARGS) where asked for.

    `data_inputs` is FittedPreprocessing.model_inputs(): num_features, num_outputs and
    categorical_cardinalities.
    """
    return call_builder(reference, kwargs, data_inputs, "model.builder", "model.kwargs")


def call_builder(
    reference: str,
    kwargs: Mapping[str, Any],
    supplied: Mapping[str, Any],
    builder_field: str,
    kwargs_field: str,
) -> Any:
    """Call a spec's builder with its kwargs plus those `supplied` values its signature names."""
    builder = resolve(reference, builder_field)
    check_kwargs(builder, kwargs, kwargs_field, tuple(supplied))
    params = inspect.signature(builder).parameters
    extra = {k: v for k, v in supplied.items() if k in params and k not in kwargs}
    return builder(**kwargs, **extra)


def check_builders(model: ModelSpec, source: DataSource) -> list[Problem]:
    """Resolve every builder a spec names and check its kwargs, before anything starts."""
    checks: list[tuple[str, Mapping[str, Any], str, tuple[str, ...]]] = [
        (model.builder, model.kwargs, "model", MODEL_INJECTED_ARGS)
    ]
    if isinstance(source, BuilderSource):
        checks.append((source.builder, source.kwargs, "data.source", ()))
    problems = []
    for reference, kwargs, section, injected in checks:
        try:
            builder = resolve(reference, f"{section}.builder")
            check_kwargs(builder, kwargs, f"{section}.kwargs", injected)
        except ComponentError as error:
            problems.append(Problem("", error.message))
    return problems


def load_checked(path: str | Path, overrides: Sequence[str] | None = None) -> LoadedSpec:
    """Load and validate a spec, then resolve its builders: a typo never costs a cluster start."""
    loaded = load_spec(path, overrides or ())  # which also makes the project importable
    problems = check_builders(loaded.spec.model, loaded.spec.data.source)
    problems += check_loop_function(loaded.spec.train.loop)
    problems += check_pretrained(loaded.spec.model, loaded.base_dir)
    problems += check_media_packages(loaded.spec.data.preprocessing)
    if problems:
        raise SpecError(str(path), with_lines(problems, loaded.path))
    return loaded


# What an image or tokenize step needs: (module, the extra that installs it).
MEDIA_PACKAGES = {"image": ("PIL", "images"), "tokenize": ("tokenizers", "text")}


def check_media_packages(steps: Sequence[Any]) -> list[Problem]:
    """An image or tokenize step's optional package is installed, or say which extra has it."""
    problems = []
    for step in steps:
        module, extra = MEDIA_PACKAGES.get(step.kind, (None, None))
        if module and importlib.util.find_spec(module) is None:
            problems.append(
                Problem(
                    "data.preprocessing",
                    f"a `{step.kind}` step needs the {module} package: "
                    f"pip install 'raylight[{extra}]'",
                )
            )
    return problems


def check_pretrained(model: ModelSpec, base_dir: Path) -> list[Problem]:
    """model.pretrained is a local file or directory that exists, and the builder can take it."""
    if model.pretrained is None:
        return []
    path = Path(model.pretrained).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if not path.exists():
        return [
            Problem(
                "model.pretrained",
                f"{path} does not exist; it must be a local model directory (save_pretrained's) "
                "or a .safetensors file. Hub names are not downloaded.",
            )
        ]
    if path.is_file() and path.suffix != ".safetensors":
        return [
            Problem(
                "model.pretrained",
                f"{path.name} is not a .safetensors file; convert the weights (safetensors "
                "save_file) or give a save_pretrained directory. Pickled weights are not loaded.",
            )
        ]
    if path.is_dir():
        try:
            builder = resolve(model.builder, "model.builder")
        except ComponentError as error:
            return [Problem("", error.message)]
        params = inspect.signature(builder).parameters
        takes = "pretrained" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
        if not takes:
            return [
                Problem(
                    "model.pretrained",
                    f"{model.builder} has no `pretrained` argument; a directory is passed to "
                    "the builder as `pretrained` for its from_pretrained.",
                )
            ]
    return []


def check_loop_function(loop: TrainLoop) -> list[Problem]:
    """A loop function must import and take one argument at most; optional packages installed."""
    package = loop.package  # the extra of the same name installs it
    if package and importlib.util.find_spec(package) is None:
        return [
            Problem(
                "train.loop.kind",
                f"{loop.kind!r} needs the {package} package, an optional dependency: "
                f"pip install 'raylight[{package}]'",
            )
        ]
    if isinstance(loop, LightningLoop) and loop.datamodule:
        try:
            builder = resolve(loop.datamodule, "train.loop.datamodule")
            check_kwargs(
                builder, loop.datamodule_kwargs, "train.loop.datamodule_kwargs", DATAMODULE_ARGS
            )
        except ComponentError as error:
            return [Problem("", error.message)]
        return []
    if isinstance(loop, HfTrainerLoop):
        try:
            resolve(loop.trainer, "train.loop.trainer")
        except ComponentError as error:
            return [Problem("", error.message)]
        return []
    if not isinstance(loop, UserFunctionLoop):
        return []
    try:
        function = resolve(loop.function, "train.loop.function")
    except ComponentError as error:
        return [Problem("", error.message)]
    required = [
        p
        for p in inspect.signature(function).parameters.values()
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(required) > 1:
        return [
            Problem(
                "train.loop.function",
                f"{loop.function}{inspect.signature(function)} must take one argument (the "
                "config dict) or none, as Ray Train calls it.",
            )
        ]
    return []
