"""Typed, strict, layered configuration: dataclasses with defaults, YAML deltas, dotted overrides.

A config is a (nested) dataclass instance passed around as a value. ``from_dict`` rejects
unknown keys with the path of the offending key; ``apply_overrides`` takes ``a.b=value`` strings
(values parsed as YAML scalars).
"""

import dataclasses
import pathlib
import typing
from typing import Any, Dict, Iterable, Type, TypeVar

import yaml

T = TypeVar('T')


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the key and the problem."""


def _convert(value: Any, tp: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f'{path}: expected a mapping, got {type(value).__name__}')
        return from_dict(tp, value, path)
    if origin is typing.Union:
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(value, inner[0], path)
    if tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f'{path}: expected a list, got {value!r}')
        return tp(value)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f'{path}: expected a list, got {value!r}')
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f'{path}: expected {len(args)} values, got {len(value)}')
            return tuple(_convert(v, a, f'{path}[{i}]') for i, (v, a) in
                         enumerate(zip(value, args)))
        item = args[0] if args else Any
        out = [_convert(v, item, f'{path}[{i}]') for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f'{path}: expected a mapping, got {value!r}')
        return dict(value)
    if tp is float:
        if isinstance(value, str):
            # YAML 1.1 reads 1e-3 (no dot) as a string; accept any float spelling.
            try:
                return float(value)
            except ValueError:
                raise ConfigError(f'{path}: expected a number, got {value!r}') from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f'{path}: expected a number, got {value!r}')
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f'{path}: expected an integer, got {value!r}')
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f'{path}: expected true or false, got {value!r}')
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f'{path}: expected a string, got {value!r}')
        return value
    return value


def from_dict(cls: Type[T], data: Dict[str, Any], path: str = '') -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types raise ConfigError."""
    if data is None:
        data = {}
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f' in {path}' if path else ''
        raise ConfigError(f'unknown key(s){where}: {", ".join(unknown)}; '
                          f'known: {", ".join(sorted(fields))}')
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _convert(value, hints[name], f'{path}.{name}' if path else name)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f'{path or cls.__name__}: {exc}') from None


def to_dict(cfg: Any) -> Dict[str, Any]:
    """Plain-data (YAML/JSON-ready) form of a config dataclass."""
    def plain(value):
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value
    return plain(dataclasses.asdict(cfg))


def merge(base: Dict[str, Any], delta: Dict[str, Any]) -> Dict[str, Any]:
    """Recursive dict merge: ``delta`` wins; nested mappings merge key by key."""
    out = dict(base)
    for key, value in (delta or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_overrides(items: Iterable[str]) -> Dict[str, Any]:
    """Turn ``['a.b=1', 'c=[1, 2]']`` into a nested dict (values parsed as YAML)."""
    out: Dict[str, Any] = {}
    for item in items:
        if '=' not in item:
            raise ConfigError(f'override {item!r} is not of the form key=value')
        key, raw = item.split('=', 1)
        try:
            value = yaml.safe_load(raw) if raw != '' else ''
        except yaml.YAMLError as exc:
            raise ConfigError(f'override {item!r}: value is not valid YAML ({exc})') from None
        node = out
        parts = key.strip().split('.')
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f'override {item!r} conflicts with an earlier override')
        node[parts[-1]] = value
    return out


def load_yaml(path: typing.Union[str, pathlib.Path]) -> Dict[str, Any]:
    path = pathlib.Path(path)
    if not path.is_file():
        raise ConfigError(f'config file not found: {path}')
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f'{path}: not valid YAML ({exc})') from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f'{path}: top level must be a mapping')
    return data


def load_config(cls: Type[T], path=None, overrides: Iterable[str] = ()) -> T:
    """Defaults of ``cls``, then the YAML file's delta, then dotted overrides."""
    data = to_dict(cls())
    if path is not None:
        data = merge(data, load_yaml(path))
    data = merge(data, parse_overrides(overrides))
    return from_dict(cls, data)
