"""The JSON-schema check of a study's configuration, one line per problem.

Each error of ``workflow/schemas/config.schema.yaml`` becomes one line that
names the key (``grid.J[2]``), the value and what is allowed, with a
suggestion for a misspelt name. The checks a schema cannot express live in
``qbsd.config``.
"""

from __future__ import annotations

import copy
import difflib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"

_TYPE_NAMES = {
    "integer": "an integer",
    "number": "a number",
    "array": "a list",
    "object": "a mapping (key: value)",
    "string": "a text",
    "boolean": "true or false",
    "null": "null",
}


def load_schema(schema: str | Path | Mapping | None = None) -> dict:
    """The schema: a mapping as given, or read from a path (the study's by default)."""
    if isinstance(schema, Mapping):
        return dict(schema)
    path = Path(schema) if schema is not None else SCHEMA_PATH
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _validator_class():
    from jsonschema import Draft7Validator, validators

    def is_integer(checker, instance):  # 2.0 is not an integer here
        return isinstance(instance, int) and not isinstance(instance, bool)

    checker = Draft7Validator.TYPE_CHECKER.redefine("integer", is_integer)
    return validators.extend(Draft7Validator, type_checker=checker)


def fill_defaults(instance, schema: Mapping) -> None:
    """Put the schema's ``default`` of every missing key into ``instance`` (in place)."""
    if not isinstance(instance, dict) or not isinstance(schema, Mapping):
        return
    for key, sub in schema.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if key in instance:
            fill_defaults(instance[key], sub)


def _key(path: Iterable) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def show(value) -> str:
    """``value`` as a message quotes it (at most 80 characters)."""
    text = repr(value) if not isinstance(value, (dict, list)) else json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def suggest(word, choices: Iterable[str]) -> str:
    """ "; did you mean ...?" for the choice closest to a misspelt ``word`` (or "")."""
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _number_hint(value) -> str:
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return ""
        return " (YAML reads this as text: write numbers like 1.0e-8 with a dot)"
    return ""


def _describe(error, key_prefix: tuple = ()) -> str:
    """One line for a jsonschema error: key, value, what is allowed."""
    path = key_prefix + tuple(error.absolute_path)
    key = _key(path)
    value = error.instance
    schema = error.schema
    kind = error.validator
    if kind == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        extra = [k for k in value if k not in allowed]
        lines = []
        for name in extra:
            where = _key((*path, name))
            lines.append(
                f"{where} = {show(value[name])}: unknown key; allowed keys"
                f"{' under ' + key if path else ''}: {', '.join(allowed)}{suggest(name, allowed)}"
            )
        return "\n  - ".join(lines)
    if kind == "pattern" and "propertyNames" in error.schema_path:
        return (
            f"{key}: the name {show(value)} is not allowed; names start with a letter and hold "
            "only letters, digits and _"
        )
    if kind == "required":
        missing = [k for k in error.validator_value if k not in value]
        return f"{key} = {show(value)}: missing key(s) {', '.join(missing)}"
    if kind == "type":
        expected = error.validator_value
        names = [expected] if isinstance(expected, str) else expected
        what = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
        hint = _number_hint(value) if {"number", "integer"} & set(names) else ""
        return f"{key} = {show(value)}: must be {what}{hint}"
    if kind == "enum":
        allowed = [str(v) for v in error.validator_value]
        return f"{key} = {show(value)}: must be one of {', '.join(allowed)}" + suggest(
            value, allowed
        )
    if kind == "minimum":
        return f"{key} = {show(value)}: must be >= {error.validator_value}"
    if kind == "exclusiveMinimum":
        return f"{key} = {show(value)}: must be > {error.validator_value}"
    if kind == "maximum":
        return f"{key} = {show(value)}: must be <= {error.validator_value}"
    if kind in ("minItems", "maxItems") and schema.get("minItems") == schema.get("maxItems"):
        return f"{key} = {show(value)}: must be a pair [n, m] of cell indices"
    if kind == "minItems":
        return f"{key} = {show(value)}: must list at least {error.validator_value} value(s)"
    if kind == "maxItems":
        return f"{key} = {show(value)}: must list at most {error.validator_value} value(s)"
    if kind == "uniqueItems":
        seen, repeated = [], []
        for v in value:
            (repeated if v in seen else seen).append(v)
        return (
            f"{key} = {show(value)}: values must not repeat "
            f"({', '.join(show(v) for v in repeated)} given twice)"
        )
    if kind == "anyOf":
        branch = 0 if isinstance(value, list) else 1
        inner = [e for e in error.context if e.schema_path and e.schema_path[0] == branch]
        detail = ""
        if inner:
            deepest = max(inner, key=lambda e: len(e.absolute_path))
            detail = "; " + _describe(deepest, key_prefix)
        return f"{key} = {show(value)}: must be {schema.get('description', error.message)}{detail}"
    return f"{key} = {show(value)}: {error.message}"


def schema_problems(config: dict, schema: str | Path | Mapping | None = None) -> list[str]:
    """Fill the schema's defaults into ``config`` (in place); one line per schema error."""
    schema = load_schema(schema)
    fill_defaults(config, schema)
    validator = _validator_class()(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.path])
    return [_describe(e) for e in errors]
