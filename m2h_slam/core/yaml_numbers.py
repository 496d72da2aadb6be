"""YAML as users write it: PyYAML's safe loader with YAML 1.2 numbers.

PyYAML follows YAML 1.1, where a float needs a dot and a signed exponent: ``5e0``, ``1e300``, ``1.0e5`` and ``-.5``
are strings there. ``load_yaml`` reads them as floats (YAML 1.2) and keeps everything else as PyYAML does
(``1e``, ``e5`` stay strings, ``5`` an int). Every YAML file a user gives is read with it: run and training
configs, intrinsics files, sequence manifests.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

FLOAT_TAG = "tag:yaml.org,2002:float"
# YAML 1.2's float (a dot or an exponent, the exponent's sign optional), plus YAML 1.1's underscores and
# sexagesimal floats (1:30.5) as PyYAML reads them; a plain integer never matches (it stays an int).
FLOAT = re.compile(r"""^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                       |[-+]?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
                       |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
                       |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
                       |[-+]?\.(?:inf|Inf|INF)
                       |\.(?:nan|NaN|NAN))$""", re.VERBOSE)


class NumberLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` whose implicit float is YAML 1.2's."""


NumberLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != FLOAT_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
NumberLoader.add_implicit_resolver(FLOAT_TAG, FLOAT, list("-+0123456789."))


def load_yaml(text: str) -> Any:
    """The data of a YAML (or JSON) document, numbers as YAML 1.2 reads them; ``yaml.YAMLError`` as
    ``yaml.safe_load``."""
    return yaml.load(text, Loader=NumberLoader)  # a SafeLoader
