"""Validate a sweep TOML against its settings model; say what is wrong in one line.

Every message names the file, the table (``[quick]``, ``[students.K6]``, or
the top level) and the key, and for an unknown key or table suggests the
nearest known one (``seedz`` -> ``seeds``).
"""
from __future__ import annotations

import difflib
import typing
from pathlib import Path

import pydantic
from pydantic import BaseModel

# Union members pydantic appends to the location of a Real (int or float) that failed.
_UNION_TAGS = {"int", "float"}


def unknown_keys(data: dict, model: type[BaseModel], path: Path, *, table: str, also: tuple[str, ...] = ()) -> None:
    """Raise ``ValueError`` for the first key of ``data`` (recursively) that ``model`` does not know.

    ``also`` are further names allowed here (the top level's ``quick`` table).
    """
    fields = model.model_fields
    for key, value in data.items():
        if key in also:
            continue
        if key not in fields:
            near = difflib.get_close_matches(key, list(fields) + list(also), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else f"; known keys: {', '.join(fields)}"
            kind = "table" if isinstance(value, dict) else "key"
            raise ValueError(f"{path}: unknown {kind} {key!r} in {_table(table)}{hint}")
        sub, mapping = _submodel(fields[key].annotation)
        if sub is None or not isinstance(value, dict):
            continue
        if mapping:
            for label, entry in value.items():
                if isinstance(entry, dict):
                    unknown_keys(entry, sub, path, table=_join(table, key, label))
        else:
            unknown_keys(value, sub, path, table=_join(table, key))


def checked(model: type[BaseModel], data: dict, path: Path, *, quick: bool) -> dict:
    """``data`` validated by ``model``, as a plain dict of the keys it sets; else one-line ``ValueError``.

    ``quick``: ``data`` is the top level merged with the ``[quick]`` table, and
    the top level alone was valid, so the problem is reported in ``[quick]``.
    """
    try:
        return model.model_validate(data).model_dump(exclude_unset=True)
    except pydantic.ValidationError as exc:
        raise ValueError(describe(exc, data, path, quick=quick)) from None


def describe(exc: pydantic.ValidationError, data: dict, path: Path, *, quick: bool) -> str:
    """The first error of ``exc`` as ``"<file>: key 'N' in [quick]: <what>, got <value>"``."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = list(first["loc"])
    if loc and loc[-1] in _UNION_TAGS:
        loc = loc[:-1]
        same = [e for e in errors if list(e["loc"][:-1]) == loc]
        finite = any(e["type"] == "finite_number" for e in same)
        what = "Input should be a finite number" if finite else "Input should be a real number (an integer or a float)"
    else:
        what = first["msg"].removeprefix("Value error, ")
    table, key = _split(loc, data)
    table = _join("quick", table) if quick else table
    if key is None:
        return f"{path}: in {_table(table)}: {what}"
    if first["type"] == "missing":
        return f"{path}: key {key!r} missing in {_table(table)}"
    return f"{path}: key {key!r} in {_table(table)}: {what}, got {first['input']!r}"


def _split(loc: list, data) -> tuple[str, str | None]:
    """Table (dotted) and key of an error location; list indices belong to their key."""
    table, node = "", data
    for i, part in enumerate(loc):
        if isinstance(part, int):
            return table, str(loc[i - 1]) if i else None
        value = node.get(part) if isinstance(node, dict) else None
        if isinstance(value, dict) and i < len(loc) - 1:
            table, node = _join(table, str(part)), value
            continue
        if isinstance(value, dict):     # the error is about the whole table (a cross-field rule)
            return _join(table, str(part)), None
        return table, str(part)
    return table, None


def _submodel(annotation) -> tuple[type[BaseModel] | None, bool]:
    """The settings model inside a field's annotation, and whether it is a mapping of them."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    mapping = typing.get_origin(annotation) is dict
    for arg in typing.get_args(annotation):
        sub, inner = _submodel(arg)
        if sub is not None:
            return sub, mapping or inner
    return None, False


def _join(*parts: str) -> str:
    return ".".join(p for p in parts if p)


def _table(table: str) -> str:
    return f"[{table}]" if table else "the top level"
