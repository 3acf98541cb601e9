"""Nested dataclass configs: ``key=value`` overrides, YAML dump, and safe YAML load.

Overrides follow Isaac Lab / Hydra habits: ``agent.trainer.timesteps=64000
env.faults.p_fault=0.5 env.faults.scale_range=[0.0,0.2]``. Values are parsed with
``yaml.safe_load`` (numbers, booleans, lists; never code) and checked against the field's type.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from h1fault.errors import H1FaultError


def all_keys(cfg: Any, prefix: str = "") -> list[str]:
    """Every dotted leaf key of a (nested) dataclass config."""
    keys = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            keys += all_keys(value, f"{prefix}{f.name}.")
        else:
            keys.append(f"{prefix}{f.name}")
    return keys


def apply_overrides(cfg: Any, overrides: list[str]) -> Any:
    """Return a copy of ``cfg`` with ``key=value`` overrides applied (validated).

    Unknown keys and values of the wrong type raise a one-line :class:`H1FaultError`
    listing close matches.
    """
    for item in overrides:
        if "=" not in item:
            raise H1FaultError(f"override '{item}' is not of the form key=value")
        key, raw = item.split("=", 1)
        key = key.strip()
        if key not in all_keys(cfg):
            close = difflib.get_close_matches(key, all_keys(cfg), n=3, cutoff=0.5)
            hint = f"; did you mean: {', '.join(close)}" if close else ""
            raise H1FaultError(f"unknown config key '{key}'{hint}")
        cfg = _replace_path(cfg, key.split("."), raw, key)
    return cfg


def _replace_path(cfg: Any, path: list[str], raw: str, full_key: str) -> Any:
    name = path[0]
    if len(path) > 1:
        return dataclasses.replace(
            cfg, **{name: _replace_path(getattr(cfg, name), path[1:], raw, full_key)}
        )
    hints = typing.get_type_hints(type(cfg))
    value = _coerce(raw, hints[name], full_key)
    return dataclasses.replace(cfg, **{name: value})


def _coerce(raw: str, typ: Any, key: str) -> Any:
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise H1FaultError(f"cannot parse value for '{key}': {raw!r}") from exc
    try:
        return _check(value, typ)
    except (TypeError, ValueError) as exc:
        raise H1FaultError(f"bad value for '{key}': {raw!r} ({exc})") from None


def _check(value: Any, typ: Any) -> Any:
    origin = typing.get_origin(typ)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(typ):
            try:
                return _check(value, option)
            except (TypeError, ValueError):
                continue
        raise TypeError(f"expected {typ}")
    if typ is type(None):
        if value is None:
            return None
        raise TypeError("expected null")
    if typ is bool:
        if isinstance(value, bool):
            return value
        raise TypeError("expected true/false")
    if typ is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise TypeError("expected an integer")
    if typ is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 3e-4 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise TypeError("expected a number")
    if typ is str:
        return str(value)
    if origin is tuple:
        args = typing.get_args(typ)
        if not isinstance(value, list | tuple):
            raise TypeError("expected a list like [a,b]")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_check(v, args[0]) for v in value)
        if len(args) != len(value):
            raise ValueError(f"expected {len(args)} values")
        return tuple(_check(v, a) for v, a in zip(value, args, strict=True))
    if typ is typing.Any:
        return value
    raise TypeError(f"unsupported field type {typ}")


def to_dict(cfg: Any) -> dict:
    """Plain dict of a dataclass config (tuples as lists), for YAML/JSON dumps."""

    def plain(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [plain(x) for x in v]
        return v

    return plain(dataclasses.asdict(cfg))


def from_dict(cls: type, data: dict) -> Any:
    """Rebuild a (nested) dataclass config from :func:`to_dict` output, type-checked."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    names = {f.name for f in dataclasses.fields(cls)}
    for key, value in data.items():
        if key not in names:
            raise H1FaultError(f"unknown key '{key}' in saved {cls.__name__}")
        typ = hints[key]
        if dataclasses.is_dataclass(typ):
            kwargs[key] = from_dict(typ, value)
        else:
            try:
                kwargs[key] = _check(value, typ)
            except (TypeError, ValueError) as exc:
                raise H1FaultError(f"bad saved value for '{key}': {value!r} ({exc})") from None
    return cls(**kwargs)


def dump_yaml(cfg: Any, path: Path) -> None:
    """Write the resolved config as YAML."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
