"""act_resnet: exact torchvision counts, activation sites, every activation, XLA step, shapes."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import backbone_testlib as bt
import layers

# Published torchvision counts (ImageNet head, 1000 classes).
TORCHVISION = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032, 101: 44_549_160,
               152: 60_192_808}


@pytest.mark.slow
@pytest.mark.parametrize('model_id', sorted(TORCHVISION))
def test_exact_trainable_counts(model_id):
    model = bt.build({'type': 'act_resnet', 'act_resnet': {'model_id': model_id}})
    assert bt.trainable_count(model) == TORCHVISION[model_id]
    tf_keras.backend.clear_session()


@pytest.mark.parametrize('activation', layers.names())
def test_forward_backward_every_activation(activation):
    bt.check_forward_backward('act_resnet', activation)


def test_jit_train_step():
    bt.check_jit_train_step('act_resnet', {'type': 'acon_c'})


def test_output_shapes():
    bt.check_output_shapes('act_resnet', [16, 32, 32, 32])


def _tpgu_layers(model):
    cls = type(layers.get('tpgu'))
    return [l for l in model.backbone.submodules if isinstance(l, cls)]


@pytest.mark.parametrize('block,model_id', [('basic', 18), ('bottleneck', 50)])
def test_activation_sites(block, model_id):
    """`all`: stem + every ReLU; `bottleneck_3x3`: one site per block, after the (first) 3×3."""
    order, dims, depths = 2, [4, 8], [2, 1]
    spec = {'type': 'tpgu', 'tpgu': {'order': order}}
    base = bt.trainable_count(bt.build_tiny('act_resnet', model_id=model_id, dims=dims,
                                            depths=depths))
    per_block = 2 if block == 'basic' else 3
    expand = 1 if block == 'basic' else 4
    for sites in ('all', 'bottleneck_3x3'):
        model = bt.build_tiny('act_resnet', spec, model_id=model_id, dims=dims, depths=depths,
                              activation_sites=sites)
        acts = _tpgu_layers(model)
        relus = [l for l in model.backbone.layers if isinstance(l, tf_keras.layers.ReLU)]
        blocks = sum(depths)
        if sites == 'all':
            # stem (64 channels) + inside each block + after each addition.
            inner = sum(d * ((per_block - 1) * c) for d, c in zip(depths, dims))
            outer = sum(d * expand * c for d, c in zip(depths, dims))
            expected = (order + 2) * (64 + inner + outer)
            assert len(acts) == 1 + blocks * per_block and not relus
        else:
            expected = (order + 2) * sum(d * c for d, c in zip(depths, dims))
            assert len(acts) == blocks
            assert len(relus) == 1 + blocks * (per_block - 1)
            names = sorted(l.name for l in acts)
            suffix = '_act1' if block == 'basic' else '_act2'
            assert all(n.endswith(suffix) for n in names), names
        assert bt.trainable_count(model) - base == expected, sites


def test_torchvision_layout_details():
    model = bt.build_tiny('act_resnet', model_id=18, dims=[64, 128], depths=[2, 2])
    names = [l.name for l in model.backbone.layers]
    # No projection in the first basic block (64 → 64), one where the shape changes.
    assert not any(n.startswith('stage1_block0_proj') for n in names)
    assert 'stage2_block0_proj_conv' in names
    bns = [l for l in model.backbone.layers if isinstance(l, tf_keras.layers.BatchNormalization)]
    assert bns and all(abs(b.momentum - 0.9) < 1e-12 and abs(b.epsilon - 1e-5) < 1e-12
                       for b in bns)
    convs = [l for l in model.backbone.layers if isinstance(l, tf_keras.layers.Conv2D)]
    assert convs and not any(c.use_bias for c in convs)


def test_unknown_sites_names_the_fix():
    with pytest.raises(ValueError, match='bottleneck_3x3'):
        bt.build_tiny('act_resnet', activation_sites='some')


def test_acon_authors_options_stride_in_1x1_and_conv_bias():
    """`stride_in_1x1` moves the downsampling stride to the first 1×1 of the bottleneck,
    `conv_bias` adds one bias per conv output channel; the defaults stay torchvision's."""
    dims, depths = [4, 8], [1, 2]
    kwargs = dict(model_id=50, dims=dims, depths=depths)
    base = bt.build_tiny('act_resnet', **kwargs)
    acon = bt.build_tiny('act_resnet', stride_in_1x1=True, conv_bias=True, **kwargs)
    for model, s1, s3 in ((base, 1, 2), (acon, 2, 1)):
        layer = {l.name: l for l in model.backbone.layers}
        assert layer['stage2_block0_conv1'].strides == (s1, s1)
        assert layer['stage2_block0_conv2'].strides == (s3, s3)
        assert layer['stage2_block1_conv1'].strides == (1, 1)
    convs = [l for l in acon.backbone.layers if isinstance(l, tf_keras.layers.Conv2D)]
    assert convs and all(c.use_bias for c in convs)
    # Biases: stem 64 + per bottleneck (w + w + 4w) + one 4w projection per stage.
    biases = 64 + sum(d * 6 * w + 4 * w for d, w in zip(depths, dims))
    assert bt.trainable_count(acon) - bt.trainable_count(base) == biases
    # Same output shape: the stride moved, it did not disappear.
    x = tf.zeros([1, bt.TINY_INPUT, bt.TINY_INPUT, 3])
    assert base.backbone(x)['3'].shape == acon.backbone(x)['3'].shape


def test_acon_configs_use_the_authors_resnet():
    from tests import train_testlib as lib  # pylint: disable=g-import-not-at-top
    paths = [p for p in lib.yaml_files() if '/acon/' in p]
    assert len(paths) == 12
    for path in paths:
        backbone = lib.load(path).task.model.backbone.act_resnet
        assert backbone.stride_in_1x1 and backbone.conv_bias, path
        assert backbone.activation_sites == 'bottleneck_3x3', path


# torchvision's wide_resnet50_2 (ResNet-50 with width_per_group 128): 68,883,240 parameters; its
# 17 nn.ReLU modules (the stem's, and one per bottleneck that the block calls three times: after
# conv1, conv2 and the addition) make 1 + 3 x 16 = 49 activation call sites (forward hooks in
# torch count 49 calls), all of which GoLU's module swap replaces.
WIDE_RESNET50_2 = (68_883_240, 49)


@pytest.mark.slow
def test_wide_resnet50_2_count_and_sites_equal_torchvision():
    from layers import base as act_base  # pylint: disable=g-import-not-at-top
    model = bt.build({'type': 'act_resnet', 'act_resnet': {
        'model_id': 50, 'width_multiplier': 2, 'activation': {'type': 'golu'}}})
    assert bt.trainable_count(model) == WIDE_RESNET50_2[0]
    golu_cls = type(layers.get('golu'))
    acts = [l for l in model.backbone.submodules
            if isinstance(l, (act_base.ActivationLayer, tf_keras.layers.ReLU,
                              tf_keras.layers.Activation))]
    assert len(acts) == sum(isinstance(l, golu_cls) for l in acts) == WIDE_RESNET50_2[1]
    tf_keras.backend.clear_session()


def test_width_multiplier_widens_only_the_bottleneck_inner_convs():
    model = bt.build_tiny('act_resnet', model_id=50, dims=[4, 8], depths=[1, 1],
                          width_multiplier=2)
    block = model.backbone
    assert block.get_layer('stage1_block0_conv1').filters == 8
    assert block.get_layer('stage1_block0_conv2').filters == 8
    assert block.get_layer('stage1_block0_conv3').filters == 16
    with pytest.raises(ValueError, match='bottleneck blocks only'):
        bt.build_tiny('act_resnet', model_id=18, width_multiplier=2)
