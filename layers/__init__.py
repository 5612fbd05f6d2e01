"""Trainable activation layers for vision backbones, and their registry.

`layers.get(spec)` builds a new layer from a name or a Model Garden one-of config dict;
`layers.names()` lists the registered names. Importing the family modules below registers them.
"""
from layers import acon, baselines, golu, tpgu, trainable  # noqa: F401  (registration)
from layers import acon_frelu  # noqa: F401  (registration)
from layers.registry import get, names, settings

__all__ = ['get', 'names', 'settings']
