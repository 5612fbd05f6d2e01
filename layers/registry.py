"""Name -> layer-class registry and the `get(spec)` factory.

Why not Model Garden's `tf_utils.get_activation`: it resolves only built-in names and returns
weightless functions, while every activation here is a layer with trainable weights and settings.
`get` accepts the Model Garden one-of config style so a YAML block such as
`activation: {type: tpgu, tpgu: {order: 3}}` maps straight onto a layer.
"""
import collections.abc
import inspect
from typing import Any, Callable, Dict, List, Optional, Tuple, Type

import tf_keras

_REGISTRY: Dict[str, Type[tf_keras.layers.Layer]] = {}

# Settings that belong to the backbone, not the layer; `get` accepts them only when empty.
# TPGU's `orders` lists one order per backbone stage: the backbone splits it (see
# `official_ext.configs.activations.stage_specs`) and hands each layer a single `order`.
_BACKBONE_SETTINGS = {'tpgu': ('orders',)}


def register(*names: str) -> Callable[[type], type]:
    """Class decorator registering a layer class under one or more activation names."""
    def decorator(cls: type) -> type:
        for name in names:
            if name in _REGISTRY:
                raise ValueError(f'Activation name {name!r} is registered twice.')
            _REGISTRY[name] = cls
        return cls
    return decorator


def names() -> List[str]:
    """Sorted list of every registered activation name."""
    return sorted(_REGISTRY)


def settings(name: str) -> Tuple[str, ...]:
    """The setting keys the activation `name` accepts (its layer's constructor arguments)."""
    cls = _lookup(name)
    params = inspect.signature(cls.__init__).parameters
    return tuple(p for p in params if p != 'self' and params[p].kind not in (
        inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL))


def _lookup(name: Any) -> Type[tf_keras.layers.Layer]:
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(
            f'Unknown activation {name!r}. Registered activations: {", ".join(names())}. '
            'Use one of these names (as a string or as the `type` of a one-of config).')
    return _REGISTRY[name]


def _parse(spec: Any) -> Tuple[str, Dict[str, Any]]:
    """Splits a spec into (name, settings dict)."""
    if hasattr(spec, 'as_dict') and callable(spec.as_dict):  # Model Garden hyperparams.Config
        spec = spec.as_dict()
    if isinstance(spec, str):
        return spec, {}
    if not isinstance(spec, collections.abc.Mapping):
        raise ValueError(
            f'An activation spec must be a name (str), a one-of dict like '
            f"{{'type': 'tpgu', 'tpgu': {{'order': 3}}}} or a hyperparams.Config; got "
            f'{type(spec).__name__}: {spec!r}.')
    if 'type' not in spec or spec['type'] is None:
        raise ValueError(
            f'The activation spec {dict(spec)!r} has no `type`. Add `type: <name>` with one of: '
            f'{", ".join(names())}.')
    name = spec['type']
    _lookup(name)
    stray = sorted(k for k in spec if k != 'type' and k not in _REGISTRY)
    if stray:
        raise ValueError(
            f'Unknown key(s) {stray} in the activation spec for {name!r}. Settings go in the '
            f"inner dict, e.g. {{'type': {name!r}, {name!r}: {{...}}}}; valid inner keys: "
            f'{list(settings(name))}.')
    inner = spec.get(name)
    if inner is None:
        inner = {}
    if hasattr(inner, 'as_dict') and callable(inner.as_dict):
        inner = inner.as_dict()
    if not isinstance(inner, collections.abc.Mapping):
        raise ValueError(
            f'The settings of activation {name!r} must be a dict; got {inner!r}.')
    return name, dict(inner)


def get(spec: Any, name: Optional[str] = None, **layer_kwargs: Any) -> tf_keras.layers.Layer:
    """Builds a NEW activation layer from a spec.

    Args:
      spec: a registered name (`'gelu'`), a one-of dict (`{'type': 'tpgu', 'tpgu': {'order': 3}}`;
        the inner dict may be missing or None for defaults; other activations' entries are
        ignored, as in a full `Activation` config's `as_dict()`), or a Model Garden
        `hyperparams.Config` of that shape.
      name: optional Keras layer name.
      **layer_kwargs: other base `tf_keras.layers.Layer` arguments (e.g. `dtype`), passed on.

    Returns:
      A fresh, unbuilt `tf_keras.layers.Layer`; every call returns a new object, so two call
      sites never share weights.

    Raises:
      ValueError: unknown activation name (lists the registered ones), unknown setting key
        (names it and the valid ones), or a non-empty backbone-level setting such as TPGU's
        `orders` (which only `stage_specs` resolves).
    """
    act_name, kwargs = _parse(spec)
    cls = _lookup(act_name)
    valid = settings(act_name)
    for key in _BACKBONE_SETTINGS.get(act_name, ()):
        if key in kwargs:
            value = kwargs.pop(key)
            if value:
                raise ValueError(
                    f'{act_name!r} setting {key!r}={value!r} is per backbone stage, not per layer. '
                    f'Build per-stage specs with official_ext.configs.activations.stage_specs(...), '
                    f'or give a single `order` to layers.get.')
    unknown = sorted(k for k in kwargs if k not in valid)
    if unknown:
        raise ValueError(
            f'Unknown setting(s) {unknown} for activation {act_name!r}; valid settings: '
            f'{list(valid)}.')
    if name is not None:
        kwargs['name'] = name
    return cls(**kwargs, **layer_kwargs)
