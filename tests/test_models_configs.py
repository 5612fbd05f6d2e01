"""Backbone configs: the issue's YAML shape, YAML → stock task → model, round trips, defaults."""
import dataclasses

import numpy as np
import pytest
import yaml

from official.core import exp_factory
from official.core import task_factory
from official.modeling.hyperparams import params_dict
from official.vision.modeling.backbones import factory as backbone_factory

import backbone_testlib as bt
from official_ext.configs import backbones

ISSUE_YAML = """
task:
  model:
    num_classes: 1000
    input_size: [224, 224, 3]
    backbone:
      type: convnext
      convnext:
        model_id: tiny
        drop_path_rate: 0.1
        activation:
          type: tpgu
          tpgu:
            orders: [7, 7, 7, 7]
"""

TINY_YAML = """
task:
  model:
    num_classes: 5
    input_size: [32, 32, 3]
    backbone:
      type: act_resnet
      act_resnet:
        model_id: 50
        dims: [4, 8]
        depths: [1, 1]
        activation_sites: bottleneck_3x3
        activation:
          type: tpgu
          tpgu:
            orders: [2, 3]
"""


def test_every_family_is_registered():
    for family in bt.FAMILIES:
        assert family in backbone_factory._REGISTERED_BACKBONE_CLS  # pylint: disable=protected-access


def test_issue_yaml_shape_parses():
    cfg = exp_factory.get_exp_config('act_image_classification')
    params_dict.override_params_dict(cfg, ISSUE_YAML, is_strict=True)
    bb = cfg.task.model.backbone
    assert bb.type == 'convnext'
    sel = bb.get()
    assert sel.model_id == 'tiny' and sel.drop_path_rate == 0.1
    assert sel.activation.type == 'tpgu' and sel.activation.tpgu.orders == [7, 7, 7, 7]


def test_yaml_string_builds_through_the_stock_task():
    cfg = exp_factory.get_exp_config('act_image_classification')
    params_dict.override_params_dict(cfg, TINY_YAML, is_strict=True)
    assert cfg.task.model.backbone.act_resnet.model_id == 50
    model = task_factory.get_task(cfg.task).build_model()
    out = model(np.zeros([2, 32, 32, 3], np.float32))
    assert tuple(out.shape) == (2, 5)
    # bottleneck_3x3: TPGU (order o: (o + 2)·C) after the 3×3 of each of the two bottlenecks.
    base = bt.build_tiny('act_resnet', model_id=50, dims=[4, 8], depths=[1, 1])
    assert bt.trainable_count(model) - bt.trainable_count(base) == 4 * 4 + 5 * 8


@pytest.mark.parametrize('family', bt.FAMILIES)
def test_round_trip_through_yaml(family):
    cfg = bt.experiment(bt.tiny_backbone(family, {'type': 'tpgu', 'tpgu': {'orders': [2, 3]}}),
                        32, 5)
    text = yaml.dump(cfg.as_dict())
    fresh = exp_factory.get_exp_config('act_image_classification')
    params_dict.override_params_dict(fresh, text, is_strict=True)
    assert fresh.as_dict() == cfg.as_dict()
    assert fresh.task.model.backbone.get().activation.tpgu.orders == [2, 3]


def test_family_defaults_reproduce_the_papers():
    bb = backbones.Backbone()
    for family in ('convnext', 'hornet', 'swin', 'posmlp'):
        act = getattr(bb, family).activation
        assert act.type == 'gelu' and act.gelu.approximate is False, family
    assert bb.act_resnet.activation.type == 'relu'
    assert bb.act_resnet.activation_sites == 'all'
    assert backbones.resolve_drop_path('convnext', 'small', None, False) == 0.4
    assert backbones.resolve_drop_path('swin', 'tiny', None, False) == 0.2
    assert backbones.resolve_drop_path('hornet', 'tiny', None, True) == 0.0
    assert backbones.resolve_drop_path('hornet', 'tiny', 0.3, False) == 0.3
    # Mutable defaults are per instance.
    a, b = backbones.Swin(), backbones.Swin()
    a.num_heads.append(1)
    assert b.num_heads == [3, 6, 12, 24]
    assert all(f.default_factory is not dataclasses.MISSING for f in dataclasses.fields(a)
               if f.name in ('dims', 'depths', 'num_heads', 'activation'))


def test_explicit_dims_and_depths_override_model_id():
    model = bt.build_tiny('convnext', model_id='small')
    names = [l.name for l in model.backbone.layers if l.name.startswith('stage')]
    assert names == ['stage1_block0', 'stage2_block0']


def test_tpgu_orders_must_match_stage_count():
    with pytest.raises(ValueError, match='orders'):
        bt.build_tiny('convnext', {'type': 'tpgu', 'tpgu': {'orders': [1, 2, 3, 4]}})


def test_unknown_activation_lists_names():
    with pytest.raises((ValueError, KeyError), match='gelu'):
        bt.build_tiny('convnext', {'type': 'nonexistent'})


@pytest.mark.parametrize('family', bt.FAMILIES)
def test_mixed_bfloat16_forward(family):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    import tf_keras  # pylint: disable=g-import-not-at-top
    tf_keras.mixed_precision.set_global_policy('mixed_bfloat16')
    try:
        model = bt.build_tiny(family, {'type': 'tpgu', 'tpgu': {'orders': [2, 3]}})
        out = model(tf.random.normal([2, 32, 32, 3]), training=True)
        assert np.all(np.isfinite(tf.cast(out, tf.float32).numpy()))
        assert all(v.dtype == tf.float32 for v in model.trainable_variables)
    finally:
        tf_keras.mixed_precision.set_global_policy('float32')
