"""Reads the YAML configuration: syntax, `${VAR}` interpolation, validation, every problem by its YAML path.

The only module that imports yaml. Variables are substituted after parsing, into string values only, so an
environment value can never add YAML structure.
"""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from collections.abc import Hashable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from gateway.config.checks import Loc, Problem, cross_check
from gateway.config.models import GatewayConfig


class ConfigError(Exception):
    """A configuration that cannot be used; `problems` lists each as `path: what is wrong`."""

    def __init__(self, problems: list[str], source: str = "<config>") -> None:
        self.problems = problems
        self.source = source
        listing = "\n".join(f"  {problem}" for problem in problems)
        super().__init__(f"{source}: invalid configuration ({len(problems)} problem(s)):\n{listing}")


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> GatewayConfig:
    """Read and validate the configuration file at `path`; raises ConfigError."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"cannot read the file: {exc.strerror or exc}"], source) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"not UTF-8 text (byte {exc.start})"], source) from None
    return parse_config(text, env, source=source)


def parse_config(
    text: str, env: Mapping[str, str] | None = None, *, source: str = "<config>"
) -> GatewayConfig:
    """Validate configuration `text`, substituting `${VAR}` from `env` (default: the process environment)."""
    environment: Mapping[str, str] = os.environ if env is None else env
    shielded, placeholders = _shield_placeholders(text)
    try:
        raw = yaml.load(shielded, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        raise ConfigError([_unshield(_yaml_problem(exc), placeholders)], source) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            ["(top level): must be a mapping of sections (server, channels, tokens, …)"], source
        )
    unresolved: list[Problem] = []
    data = _resolve(raw, (), environment, placeholders, unresolved)
    try:
        config = GatewayConfig.model_validate(data)
    except ValidationError as exc:
        problems = [_problem(error) for error in exc.errors(include_url=False)]
        if not any(error["type"] == "config" for error in exc.errors(include_url=False)):
            # the model stopped before its own cross-checks: run them on the raw data
            problems += [f"{format_path(loc)}: {message}" for loc, message in cross_check(data)]
        raise ConfigError(_listing(unresolved, problems), source) from None
    if unresolved:
        raise ConfigError(_listing(unresolved, []), source)
    return config


# --- YAML ------------------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key repeated in one mapping instead of keeping the last silently."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: dict[tuple[str, str], yaml.Mark] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            ident = (key_node.tag, key_node.value)
            if ident in seen:
                first = seen[ident]
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key_node.value!r} (first at line {first.line + 1})",
                    key_node.start_mark,
                )
            seen[ident] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        message = f"line {mark.line + 1}, column {mark.column + 1}: {exc.problem}"
        if exc.context and exc.context_mark is not None:
            message += f" ({exc.context} at line {exc.context_mark.line + 1})"
        return f"YAML syntax: {message}"
    return f"YAML syntax: {exc}"


# YAML forbids `{` and `}` in plain scalars inside `[...]`, so the SPEC's own `keys: [${OPENAI_API_KEY}]`
# would not parse. Each `${…}` is swapped for a same-length run of private-use characters (which YAML
# treats as ordinary text, keeping error columns right) and swapped back after parsing.
_SHIELD_START, _SHIELD_PAD, _SHIELD_INDEX = "\ue000", "\ue001", 0xE100
_SHIELD_LIMIT = 0xF800 - _SHIELD_INDEX
_SHIELDABLE = re.compile(r"\$\$|\$\{[^}\n]*\}")
_SHIELDED = re.compile("\ue000([\ue100-\uf7ff])\ue001*")


def _shield_placeholders(text: str) -> tuple[str, list[str]]:
    placeholders: list[str] = []
    if _SHIELD_START in text:
        return text, placeholders  # cannot shield safely; flow collections then need quotes

    def shield(match: re.Match[str]) -> str:
        original = match.group(0)
        if original == "$$" or len(placeholders) >= _SHIELD_LIMIT:
            return original
        placeholders.append(original)
        marker = _SHIELD_START + chr(_SHIELD_INDEX + len(placeholders) - 1)
        return marker + _SHIELD_PAD * (len(original) - len(marker))

    return _SHIELDABLE.sub(shield, text), placeholders


def _unshield(text: str, placeholders: list[str]) -> str:
    if not placeholders:
        return text
    return _SHIELDED.sub(lambda match: placeholders[ord(match.group(1)) - _SHIELD_INDEX], text)


# --- ${VAR} interpolation ----------------------------------------------------------------------------

_REFERENCE = re.compile(r"\$(\$|\{[^}]*\}|\{)")
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _resolve(
    node: Any, loc: Loc, env: Mapping[str, str], placeholders: list[str], problems: list[Problem]
) -> Any:
    if isinstance(node, str):
        return _interpolate(_unshield(node, placeholders), loc, env, problems)
    if isinstance(node, dict):
        resolved: dict[Any, Any] = {}
        for key, value in node.items():
            name = _unshield(key, placeholders) if isinstance(key, str) else key
            resolved[name] = _resolve(value, (*loc, name), env, placeholders, problems)
        return resolved
    if isinstance(node, list):
        return [_resolve(item, (*loc, index), env, placeholders, problems) for index, item in enumerate(node)]
    return node


def _interpolate(value: str, loc: Loc, env: Mapping[str, str], problems: list[Problem]) -> str:
    """`${VAR}`, `${VAR:-default}` (default also when VAR is empty) and `$$` for a literal `$`."""

    def substitute(match: re.Match[str]) -> str:
        body = match.group(1)
        if body == "$":
            return "$"
        if body == "{":
            problems.append((loc, "unclosed ${ (write $$ for a literal $)"))
            return match.group(0)
        name, has_default, default = body[1:-1].partition(":-")
        if not _VARIABLE_NAME.fullmatch(name) or "${" in default:
            problems.append((loc, f"bad reference {match.group(0)}: use ${{NAME}} or ${{NAME:-default}}"))
            return match.group(0)
        value = env.get(name)
        if value:
            return value
        if has_default:
            return default
        if value is not None:
            return value
        problems.append(
            (loc, f"environment variable {name} is not set (write ${{{name}:-default}} for a default)")
        )
        return match.group(0)

    return _REFERENCE.sub(substitute, value)


# --- problems ------------------------------------------------------------------------------------------

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def format_path(loc: Loc) -> str:
    """`("channels", 2, "base_url")` -> `channels[2].base_url`; odd mapping keys are quoted."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            path += f".{part}" if path else part
        else:
            path += '["' + part.replace("\\", "\\\\").replace('"', '\\"') + '"]'
    return path or "(top level)"


def _problem(error: ErrorDetails) -> str:
    # pydantic marks a bad mapping key with a trailing "[key]"; the path to the key says enough
    loc: Loc = tuple(part for part in error["loc"] if part != "[key]")
    kind = error["type"]
    if kind == "missing":
        message = "required"
    elif kind == "extra_forbidden":
        message = "unknown key" + _suggestion(loc)
    elif kind == "string_type" and isinstance(error["input"], int | float | date):
        message = "must be text; put the value in quotes (YAML read it as a number, date or boolean)"
    elif kind in ("value_error", "assertion_error"):
        message = str(error.get("ctx", {}).get("error", error["msg"]))
    else:
        message = error["msg"]
    return f"{format_path(loc)}: {message}"


def _suggestion(loc: Loc) -> str:
    fields = _model_at(loc[:-1])
    if fields is None or not isinstance(loc[-1], str):
        return ""
    close = difflib.get_close_matches(loc[-1], list(fields.model_fields), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The model class that validates the mapping at `loc`, following field annotations."""
    current: Any = GatewayConfig
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel) and isinstance(part, str):
            field = current.model_fields.get(part)
            current = None if field is None else field.annotation
        else:
            args = typing.get_args(current)
            current = args[-1] if typing.get_origin(current) in (list, dict) and args else None
        current = _without_none(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _without_none(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return options[0] if len(options) == 1 else annotation
    return annotation


def _listing(unresolved: list[Problem], problems: list[str]) -> list[str]:
    """Unresolved variables first; validation problems at or under their paths are only consequences."""
    prefixes = [format_path(loc) for loc, _ in unresolved]
    follow_ons = [
        problem
        for problem in problems
        if not any(problem.startswith(prefix + tail) for prefix in prefixes for tail in (":", ".", "["))
    ]
    listing = [f"{format_path(loc)}: {message}" for loc, message in unresolved] + follow_ons
    return list(dict.fromkeys(listing))
