"""Every TPGU model-zoo YAML builds (backbone shrunk) and its orders take effect per stage.

Full-size parameter counts are the backbone tests' job; here each file's activation spec is
built into a reduced network of its family, and TPGU's parameter increment over exact GELU
is checked against the formula of architectures.md: sum over stages of depth * (order + 2) * 4C.
"""
import os

import pytest

from tests import train_testlib as lib

FILES = [p for p in lib.yaml_files() if os.sep + 'tpgu' + os.sep in p]
_BASELINES = {}


def _baseline(cfg):
    family = cfg.task.model.backbone.type
    if family not in _BASELINES:
        _BASELINES[family] = lib.trainable_count(
            lib.build(lib.reduced(cfg, activation={'type': 'gelu'})))
    return _BASELINES[family]


@pytest.mark.slow
@pytest.mark.parametrize('path', FILES, ids=[os.path.basename(p) for p in FILES])
def test_builds_with_tpgu_increment(path):
    cfg = lib.load(path)
    backbone = cfg.task.model.backbone
    family = backbone.type
    activation = backbone.get().activation
    model = lib.build(lib.reduced(cfg))
    dims, depths = lib.REDUCED[family]['dims'], lib.REDUCED[family]['depths']
    if activation.type == 'tpgu':
        orders = list(activation.tpgu.orders)
        assert len(orders) == 4
        want = sum(d * (o + 2) * 4 * c for d, o, c in zip(depths, orders, dims))
    else:
        assert activation.type == 'gelu'
        want = 0
    assert lib.trainable_count(model) - _baseline(cfg) == want
