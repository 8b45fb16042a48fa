"""Cosmos Transfer prompts from a TOML file in the blueprint's format, validated before anything is written.

The file (see ``media/stack_prompts.toml``)::

    [prompt]
    description = "... {cube_material} cubes on a {table_material} table ..."   # a str.format template

    [variables]                      # one non-empty list of strings per placeholder
    cube_material = ["oak", "..."]
    table_material = ["slate", "..."]

    [negative_prompt]                # optional
    description = "..."

    [cosmos]                         # optional defaults, overridden by command-line flags
    seed = 42                        # Cosmos seed
    sigma_max = 40                   # 35..80
    control_weight = 0.6             # blueprint edge weight, 0.1..0.9
    canny_strength = "very_low"      # very_low, low, medium, high, very_high

Each video gets one draw: one value per variable, from ``numpy.random.default_rng`` seeded with the numbers recorded
in its spec, so the same seed gives the same prompts. The prompt sent is the filled template with its whitespace
(newlines included) collapsed to single spaces.
"""

from __future__ import annotations

import os
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from mimicforge.errors import ConfigError

EXAMPLE = "stack_prompts.toml"  # shipped beside this module
CANNY_STRENGTHS = ("very_low", "low", "medium", "high", "very_high")
# name -> (type, low, high): the ranges of the blueprint's notebook widgets
PARAM_RANGES: dict[str, tuple[type, float, float]] = {
    "seed": (int, 0, 2**31 - 1),
    "sigma_max": (float, 35.0, 80.0),
    "control_weight": (float, 0.1, 0.9),
}
DEFAULTS: dict[str, Any] = {"seed": 42, "sigma_max": 40.0, "control_weight": 0.6, "canny_strength": "very_low"}


@dataclass(frozen=True)
class PromptDraw:
    prompt: str
    negative_prompt: str
    choices: dict[str, str]
    seed: list[int]

    def to_json(self) -> dict[str, Any]:
        return {"choices": dict(self.choices), "seed": list(self.seed)}


@dataclass(frozen=True)
class PromptSet:
    template: str
    variables: dict[str, tuple[str, ...]]
    negative_prompt: str = ""
    cosmos: dict[str, Any] = field(default_factory=dict)
    origin: str = ""

    def draw(self, seed: Sequence[int]) -> PromptDraw:
        rng = np.random.default_rng(list(seed))
        choices = {name: values[int(rng.integers(len(values)))] for name, values in sorted(self.variables.items())}
        return PromptDraw(prompt=one_line(self.template.format(**choices)),
                          negative_prompt=one_line(self.negative_prompt), choices=choices, seed=list(seed))


def one_line(text: str) -> str:
    return " ".join(text.split())


def check_param(name: str, value: Any, origin: str) -> Any:
    """A Cosmos parameter checked against its range; ConfigError quoting the value and the range otherwise."""
    if name == "canny_strength":
        v = str(value).strip().lower().replace(" ", "_")
        if v not in CANNY_STRENGTHS:
            raise ConfigError(f"{origin}: canny_strength {value!r} is not one of {', '.join(CANNY_STRENGTHS)}")
        return v
    kind, lo, hi = PARAM_RANGES[name]
    try:
        if isinstance(value, bool):
            raise ValueError
        v = kind(value) if kind is float else int(str(value))
    except (TypeError, ValueError):
        raise ConfigError(f"{origin}: {name} {value!r} is not a{'n integer' if kind is int else ' number'}") from None
    if not lo <= v <= hi:
        raise ConfigError(f"{origin}: {name} {value!r} is out of range; allowed {lo:g} to {hi:g}")
    return v


def _placeholders(template: str, origin: str) -> list[str]:
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError(f"{origin}: [prompt] description is not a valid template ({exc}); write placeholders as "
                          "{name} and literal braces as {{ }}") from None
    for _, name, spec, conv in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conv:
            shown = name + ("!" + conv if conv else "") + (":" + spec if spec else "")
            raise ConfigError(f"{origin}: placeholder {{{shown}}} in [prompt] description must be a plain {{name}}")
        names.append(name)
    return names


def parse_prompts(doc: Mapping[str, Any], origin: str) -> PromptSet:
    prompt = doc.get("prompt")
    if not isinstance(prompt, Mapping) or not isinstance(prompt.get("description"), str) \
            or not prompt["description"].strip():
        raise ConfigError(f"{origin}: needs a [prompt] table with a non-empty description = \"...\" template")
    template = prompt["description"]
    variables = doc.get("variables", {})
    if not isinstance(variables, Mapping):
        raise ConfigError(f"{origin}: [variables] must be a table of lists, e.g. table_material = [\"oak\"]")
    names = _placeholders(template, origin)
    for name in names:
        if name not in variables:
            raise ConfigError(f"{origin}: placeholder {{{name}}} in [prompt] description has no list in [variables]; "
                              f"add {name} = [\"...\"]")
    values: dict[str, tuple[str, ...]] = {}
    for name, lst in variables.items():
        if not isinstance(lst, list) or not lst:
            raise ConfigError(f"{origin}: [variables] {name} must be a non-empty list of strings, got {lst!r}")
        if not all(isinstance(v, str) and v.strip() for v in lst):
            bad = next(v for v in lst if not (isinstance(v, str) and v.strip()))
            raise ConfigError(f"{origin}: [variables] {name} holds {bad!r}; every value must be a non-empty string")
        if name in names:
            values[name] = tuple(lst)
    negative = doc.get("negative_prompt", {})
    neg_text = negative.get("description", "") if isinstance(negative, Mapping) else negative
    if not isinstance(neg_text, str):
        raise ConfigError(f"{origin}: [negative_prompt] description must be a string")
    cosmos = doc.get("cosmos", {})
    if not isinstance(cosmos, Mapping):
        raise ConfigError(f"{origin}: [cosmos] must be a table (seed, sigma_max, control_weight, canny_strength)")
    params: dict[str, Any] = {}
    for key, value in cosmos.items():
        if key not in DEFAULTS:
            raise ConfigError(f"{origin}: unknown [cosmos] setting {key!r}; known: {', '.join(DEFAULTS)}")
        params[key] = check_param(key, value, f"{origin} [cosmos]")
    return PromptSet(template=template, variables=values, negative_prompt=neg_text, cosmos=params, origin=origin)


def load_prompts(path: str | os.PathLike[str] | None = None) -> PromptSet:
    """The prompt file at ``path``, or the shipped example for the stack task."""
    import toml

    if path is None:
        text = resources.files("mimicforge.media").joinpath(EXAMPLE).read_text(encoding="utf-8")
        origin = EXAMPLE
    else:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"prompt file {str(p)!r} does not exist; pass a TOML file like mimicforge's {EXAMPLE}")
        origin = str(p)
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"prompt file {origin} cannot be read: {exc}") from None
    try:
        doc = toml.loads(text)
    except toml.TomlDecodeError as exc:
        raise ConfigError(f"prompt file {origin} is not valid TOML: {exc}") from None
    return parse_prompts(doc, origin)
