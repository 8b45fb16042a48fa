"""How a setting is declared, parsed, validated and exposed; the settings themselves live in ``config``.

A setting is one dataclass field declared with ``setting(...)``: its default, environment variable,
parser (which also states what is allowed), example and help. From that one declaration come the dataclass
default, the validation in ``__post_init__`` (so ``GenerationConfig(num_trials=-1)`` built in Python fails
like ``NUM_TRIALS=-1`` does), the environment name, the TOML key (``[section] key``), the CLI flag
(``--key-with-dashes``; booleans as ``--x/--no-x``) and the default shown in its help. To add a setting,
add one field to the right section in ``config``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mimicforge.errors import ConfigError

Parser = Callable[[Any], Any]


# --------------------------------------------------------------------------------------------- parsers
def _described(desc: str, parse: Parser) -> Parser:
    parse.desc = desc  # type: ignore[attr-defined]
    return parse


def integer(lo: int, hi: int | None = None, what: str = "") -> Parser:
    desc = what or (f"an integer >= {lo}" if hi is None else f"an integer in [{lo}, {hi}]")

    def parse(v: Any) -> int:
        if isinstance(v, bool):
            raise ValueError(desc)
        if isinstance(v, str):
            v = v.strip()
            if not v.lstrip("+-").isdigit():
                raise ValueError(desc)
        elif not isinstance(v, int):
            raise ValueError(desc)
        n = int(v)
        if n < lo or (hi is not None and n > hi):
            raise ValueError(desc)
        return n

    return _described(desc, parse)


def number(lo: float, hi: float) -> Parser:
    desc = f"a number in [{lo}, {hi}]"

    def parse(v: Any) -> float:
        if isinstance(v, bool):
            raise ValueError(desc)
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise ValueError(desc) from None
        if not lo <= x <= hi:
            raise ValueError(desc)
        return x

    return _described(desc, parse)


def choice(options: tuple[str, ...]) -> Parser:
    desc = "one of " + ", ".join(options)

    def parse(v: Any) -> str:
        s = v.strip().lower() if isinstance(v, str) else v
        if s not in options:
            raise ValueError(desc)
        return s

    return _described(desc, parse)


def _boolean(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise ValueError(boolean.desc)  # type: ignore[attr-defined]


boolean = _described("a boolean (1/0, true/false, yes/no)", _boolean)


def _path_value(v: Any) -> Path:
    if not isinstance(v, (str, os.PathLike)) or not str(v).strip():
        raise ValueError(path.desc)  # type: ignore[attr-defined]
    return Path(str(v).strip()).expanduser()


path = _described("a file path", _path_value)


def _text_value(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError(text.desc)  # type: ignore[attr-defined]
    return v.strip()


text = _described("a non-empty string", _text_value)


def names(allowed: tuple[str, ...] | None = None) -> Parser:
    desc = "a comma-separated list" + (f" of {', '.join(allowed)}" if allowed else " of names")

    def parse(v: Any) -> tuple[str, ...]:
        items = v.split(",") if isinstance(v, str) else v
        if not isinstance(items, (list, tuple)):
            raise ValueError(desc)
        out = tuple(str(x).strip() for x in items if str(x).strip())
        if allowed is not None and any(x not in allowed for x in out):
            raise ValueError(desc)
        if len(set(out)) != len(out):
            raise ValueError(desc + " without repeats")
        return out

    return _described(desc, parse)


def span(lo: float, hi: float) -> Parser:
    desc = f"two numbers low,high with {lo} <= low <= high <= {hi}"

    def parse(v: Any) -> tuple[float, float]:
        items = v.split(",") if isinstance(v, str) else v
        if not isinstance(items, (list, tuple)) or len(items) != 2 or any(isinstance(x, bool) for x in items):
            raise ValueError(desc)
        try:
            a, b = (float(x) for x in items)
        except (TypeError, ValueError):
            raise ValueError(desc) from None
        if not lo <= a <= b <= hi:
            raise ValueError(desc)
        return (a, b)

    return _described(desc, parse)


# --------------------------------------------------------------------------------------------- declaring
@dataclass(frozen=True)
class Setting:
    section: str  # "generation" | "cameras" | "workers" | "randomization" | "run"; the TOML table
    key: str  # dataclass field and TOML key
    env: str | None  # environment variable
    parse: Parser
    example: str
    help: str = ""
    flag: str | None = ""  # "" : --key-with-dashes; None: no generated flag (the CLI spells it itself)
    default: Any = None
    engines: tuple[str, ...] | None = None  # engines that honour it; None: every engine
    harmless: bool = False  # set on another engine: one warning line instead of an error
    hint: str = ""  # what to do instead on another engine (default: unset it or choose an engine that honours it)

    @property
    def flag_name(self) -> str | None:
        if self.flag is None:
            return None
        return self.flag or "--" + self.key.replace("_", "-")

    @property
    def is_bool(self) -> bool:
        return self.parse is boolean


def setting(default: Any, *, env: str | None, parse: Parser, example: str, help: str = "",
            flag: str | None = "", engines: tuple[str, ...] | None = None, harmless: bool = False,
            hint: str = "") -> Any:
    """Declare a dataclass field as a setting (see the module docstring). ``engines``: the engines that honour
    it (a value other than the default on another engine is an error naming it, or one warning line where
    ``harmless``)."""
    meta = {"setting": {"env": env, "parse": parse, "example": example, "help": help, "flag": flag,
                        "engines": engines, "harmless": harmless, "hint": hint}}
    return dataclasses.field(default=default, metadata=meta)


def settings_of(cls: type, section: str) -> tuple[Setting, ...]:
    out = []
    for f in dataclasses.fields(cls):
        meta = f.metadata.get("setting")
        if meta is not None:
            out.append(Setting(section, f.name, default=f.default, **meta))
    return tuple(out)


def validate_fields(obj: Any, section: str) -> None:
    """``__post_init__`` of a settings dataclass: parse every set value (normalizing it: tuples, Paths,
    lower-case choices) or raise ``ConfigError`` quoting it and what is allowed."""
    for s in settings_of(type(obj), section):
        value = getattr(obj, s.key)
        if value is None and s.default is None:
            continue
        try:
            parsed = s.parse(value)
        except ValueError as exc:
            raise ConfigError(f"{type(obj).__name__}({s.key}={value!r}): expected {exc}, e.g. "
                              f"{s.key}={s.example!r}") from None
        if parsed != value or type(parsed) is not type(value):
            object.__setattr__(obj, s.key, parsed)


# --------------------------------------------------------------------------------------------- flags
def help_text(s: Setting) -> str:
    default = s.default
    if isinstance(default, tuple):
        default = ",".join(str(x) for x in default) or "none"
    elif isinstance(default, bool):
        default = "on" if default else "off"
    shown = f"; default {default}" if default is not None else ""
    return f"{s.help} ({s.env}{shown})" if s.env else f"{s.help} (default {default})"


def add_flags(parser: argparse.ArgumentParser, settings: Iterable[Setting]) -> None:
    """One flag per setting: ``--key value``, or ``--key/--no-key`` for booleans (default None: not given)."""
    for s in settings:
        name = s.flag_name
        if name is None:
            continue
        if s.is_bool:
            parser.add_argument(name, dest=s.key, action=argparse.BooleanOptionalAction, default=None,
                                help=help_text(s))
        else:
            parser.add_argument(name, dest=s.key, default=None, metavar=s.key.upper(), help=help_text(s))


def flag_values(args: argparse.Namespace, settings: Iterable[Setting]) -> dict[str, Any]:
    """The settings given as flags (None: not given), keyed by setting key, for ``config.load_config``."""
    return {s.key: getattr(args, s.key, None) for s in settings if s.flag_name is not None}


def quote_origin(s: Setting, raw: Any, origin: str) -> tuple[str, str]:
    """(where the bad value came from, an example of a good one) in the origin's own spelling."""
    if origin == "environment":
        return f"{s.env}={raw!r}", f"{s.env}={s.example}"
    if origin == "flag":
        name = s.flag_name or "--" + s.key.replace("_", "-")
        return f"{name} {raw!r}", f"{name} {s.example}"
    return f"{origin} [{s.section}] {s.key} = {raw!r}", f"{s.key} = {s.example!r}"


def parse_as(s: Setting, raw: Any, origin: str) -> Any:
    try:
        return s.parse(raw)
    except ValueError as exc:
        where, example = quote_origin(s, raw, origin)
        raise ConfigError(f"{where}: expected {exc}, e.g. {example}") from None


def index(settings: Iterable[Setting]) -> Mapping[str, dict[str, Setting]]:
    by_section: dict[str, dict[str, Setting]] = {}
    for s in settings:
        by_section.setdefault(s.section, {})[s.key] = s
    return by_section
