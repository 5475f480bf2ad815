"""A YAML loader that reads `1e-3` as a number, as YAML 1.2 (and every user) does.

PyYAML implements YAML 1.1, where a float needs a dot (`1.0e-3`): `lr: 1e-3` would arrive as
the string "1e-3", and so would the same value in `model.kwargs` or a `choice` list.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class SpecYamlLoader(yaml.SafeLoader):
    """yaml.SafeLoader (no Python objects) with YAML 1.2 floats."""


SpecYamlLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
SpecYamlLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=SpecYamlLoader)


def compose_yaml(text: str) -> yaml.Node | None:
    return yaml.compose(text, Loader=SpecYamlLoader)
