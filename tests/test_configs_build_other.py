"""Every non-TPGU YAML (ACON, GoLU, seed-003, PosMLP, demo) builds its model, backbone shrunk.

The check beyond "it builds": the activation the file names is really in the network (a layer
whose class name matches), at the sites it asks for.
"""
import os

import pytest

from tests import train_testlib as lib

FILES = [p for p in lib.yaml_files() if os.sep + 'tpgu' + os.sep not in p]


def _layer_classes(model):
    names = set()
    stack = [model]
    while stack:
        layer = stack.pop()
        names.add(type(layer).__name__.lower().replace('_', ''))
        stack.extend(getattr(layer, 'layers', []))
        stack.extend(l for l in getattr(layer, '_self_tracked_trackables', [])
                     if hasattr(l, 'trainable_weights'))
    return names


@pytest.mark.slow
@pytest.mark.parametrize('path', FILES, ids=[os.path.relpath(p, lib.CONFIG_DIR) for p in FILES])
def test_builds_with_its_activation(path):
    cfg = lib.load(path)
    model = lib.build(lib.reduced(cfg) if 'demo' not in path else cfg)
    assert lib.trainable_count(model) > 0
    name = cfg.task.model.backbone.get().activation.type.replace('_', '')
    if name not in ('relu', 'gelu', 'swish', 'mish'):
        classes = _layer_classes(model)
        assert any(name in c for c in classes), (name, sorted(classes)[:40])
