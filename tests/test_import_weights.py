"""tools/import_weights.py against reference logits of timm, torchvision and the authors' code.

Each fixture under tests/fixtures/ (made by tools/make_fixtures.py with torch, which the tests
never need) holds a tiny reference network's randomised state dict, an input and the reference
network's logits. The weights are imported with the tool, the checkpoint is loaded with Model
Garden's stock `task.initialize` (`init_checkpoint_modules: all`), and our logits must equal
the reference's within 1e-5 relative (max |ours − ref| / max |ref|). A deliberately transposed
kernel (negative control) must break that agreement, so the comparison can fail.
"""
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from safetensors.numpy import load_file, save_file

from official.core import task_factory

import official_ext.registry_imports  # noqa: F401
from tools import import_weights as iw
from tools.porting import mapping

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures')
NAMES = sorted(f[:-len('.json')] for f in os.listdir(FIXTURES) if f.endswith('.json'))
TOLERANCE = 1e-5


def _fixture(name):
    with open(os.path.join(FIXTURES, f'{name}.json'), encoding='utf-8') as f:
        meta = json.load(f)
    data = np.load(os.path.join(FIXTURES, f'{name}.npz'))
    return meta, data['images'], data['logits']


def _logits(meta, checkpoint, images, modules='all'):
    params = iw.load_params(meta['experiment'], params_override=json.dumps(
        meta['params_override']))
    params.override({'task': {'init_checkpoint': checkpoint,
                              'init_checkpoint_modules': modules}})
    task = task_factory.get_task(params.task)
    model = task.build_model()
    task.initialize(model)  # Model Garden's stock restore path
    return model, model(tf.constant(images.transpose(0, 2, 3, 1)), training=False).numpy()


def _relative_error(ours, ref):
    return float(np.max(np.abs(ours - ref)) / np.max(np.abs(ref)))


def _import(meta, weights, output):
    return iw.import_weights(meta['experiment'], weights, str(output),
                             params_override=json.dumps(meta['params_override']))


def test_every_family_has_a_fixture():
    assert {'convnext', 'swin', 'resnet_basic', 'resnet_bottleneck', 'resnet_acon_c',
            'resnet_meta_acon', 'hornet', 'posmlp', 'vit_torchvision', 'vit_timm',
            'tiny_vit', 'tiny_vit_timm', 'wide_resnet_bottleneck', 'cifar_resnet',
            'cifar_wide_resnet', 'densenet', 'densenet_cifar', 'efficientnet', 'shufflenet_v2_relu',
            'shufflenet_v2_swish', 'shufflenet_v2_acon_c', 'shufflenet_v2_meta_acon',
            'tfnet'} <= set(NAMES)
    size = sum(os.path.getsize(os.path.join(FIXTURES, f)) for f in os.listdir(FIXTURES))
    assert size < 5 * 2 ** 20


@pytest.mark.parametrize('name', NAMES)
def test_imported_logits_match_the_reference(name, tmp_path):
    meta, images, ref = _fixture(name)
    path = _import(meta, os.path.join(FIXTURES, f'{name}.safetensors'), tmp_path / 'ckpt')
    assert os.path.exists(path + '.index')
    _, ours = _logits(meta, str(tmp_path / 'ckpt'), images)
    assert _relative_error(ours, ref) < TOLERANCE, name


def _transposed_copy(name, tmp_path):
    """The fixture's state dict with one square kernel transposed (shapes still fit)."""
    state = load_file(os.path.join(FIXTURES, f'{name}.safetensors'))
    for key, value in state.items():
        if value.ndim == 2 and value.shape[0] == value.shape[1] and 'table' not in key:
            state[key] = np.ascontiguousarray(value.T)
            break
        if value.ndim == 4 and value.shape[2] == value.shape[3] > 1:
            state[key] = np.ascontiguousarray(value.transpose(0, 1, 3, 2))
            break
    else:
        raise AssertionError(f'{name}: no square kernel to transpose')
    path = str(tmp_path / 'transposed.safetensors')
    save_file(state, path)
    return path, key


@pytest.mark.parametrize('name', ['convnext', 'swin', 'resnet_bottleneck', 'posmlp',
                                  'vit_torchvision', 'vit_timm', 'tiny_vit',
                                  'cifar_wide_resnet', 'densenet_cifar'])
def test_negative_control_transposed_kernel_fails(name, tmp_path):
    meta, images, ref = _fixture(name)
    weights, key = _transposed_copy(name, tmp_path)
    _import(meta, weights, tmp_path / 'ckpt')
    _, ours = _logits(meta, str(tmp_path / 'ckpt'), images)
    assert _relative_error(ours, ref) > 100 * TOLERANCE, key


@pytest.mark.parametrize('name,key', [
    ('shufflenet_v2_meta_acon', 'first_conv.0.weight'),              # the stem conv
    ('tfnet', 'features.0.branch_main.2.conv_frelu.weight'),         # ACON-FReLU's funnel conv
])
def test_negative_control_transposed_kernel_on_a_large_map_fails(name, key, tmp_path):
    """The first square kernel of these two sits on a 1x1 map (transposing it changes nothing),
    so a 3x3 kernel that sees a 16x16 / 8x8 map is transposed instead."""
    meta, images, ref = _fixture(name)
    state = load_file(os.path.join(FIXTURES, f'{name}.safetensors'))
    state[key] = np.ascontiguousarray(state[key].transpose(0, 1, 3, 2))
    weights = str(tmp_path / 'transposed.safetensors')
    save_file(state, weights)
    _import(meta, weights, tmp_path / 'ckpt')
    _, ours = _logits(meta, str(tmp_path / 'ckpt'), images)
    assert _relative_error(ours, ref) > 100 * TOLERANCE, key


def test_every_problem_is_listed_and_nothing_is_written(tmp_path):
    meta, _, _ = _fixture('convnext')
    state = load_file(os.path.join(FIXTURES, 'convnext.safetensors'))
    del state['stages.1.blocks.0.gamma']
    state['stages.0.blocks.0.mlp.fc1.weight'] = state['stages.0.blocks.0.mlp.fc1.weight'][:-1]
    state['stages.9.blocks.0.extra'] = np.zeros([3], np.float32)
    path = str(tmp_path / 'broken.safetensors')
    save_file(state, path)
    with pytest.raises(iw.ImportFailed) as err:
        _import(meta, path, tmp_path / 'ckpt')
    text = str(err.value)
    assert 'nothing was loaded' in text
    assert 'stage2_block0/ls/layer_scale <- stages.1.blocks.0.gamma' in text
    assert 'stage1_block0/pwconv1/kernel [8, 32] <- stages.0.blocks.0.mlp.fc1.weight [31, 8]' \
        in text
    assert 'stages.9.blocks.0.extra' in text
    assert not os.path.exists(tmp_path / 'ckpt')
    assert not [p for p in os.listdir(tmp_path) if '.tmp-' in p]


def test_new_activation_needs_keep_init_and_backbone_only_restore(tmp_path):
    """Fine-tuning a GELU-pretrained ConvNeXt with TPGU: the TPGU parameters are unmapped until
    --keep_init names them; then the backbone-only restore keeps the new 7-class head."""
    meta, images, _ = _fixture('convnext')
    meta['params_override']['task']['model']['backbone']['convnext']['activation'] = {
        'type': 'tpgu', 'tpgu': {'orders': [3, 3, 3, 3]}}
    weights = os.path.join(FIXTURES, 'convnext.safetensors')
    with pytest.raises(iw.ImportFailed, match='no rule maps'):
        _import(meta, weights, tmp_path / 'a')
    iw.import_weights(meta['experiment'], weights, str(tmp_path / 'b'),
                      params_override=json.dumps(meta['params_override']),
                      keep_init=[r'/act/'])
    imported = load_file(weights)
    meta['params_override']['task']['model']['num_classes'] = 7
    model, logits = _logits(meta, str(tmp_path / 'b'), images, modules='backbone')
    assert logits.shape == (2, 7)
    kernel = model.backbone.get_layer('stage1_block0').dwconv.depthwise_kernel.numpy()
    np.testing.assert_array_equal(
        kernel, imported['stages.0.blocks.0.conv_dw.weight'].transpose(2, 3, 0, 1))


def test_output_folder_is_never_overwritten(tmp_path):
    meta, _, _ = _fixture('swin')
    (tmp_path / 'ckpt').mkdir()
    (tmp_path / 'ckpt' / 'other').write_text('x')
    with pytest.raises(iw.ImportFailed, match='already exists'):
        _import(meta, os.path.join(FIXTURES, 'swin.safetensors'), tmp_path / 'ckpt')


def test_unknown_family_and_unreadable_file_name_the_problem(tmp_path):
    bad = tmp_path / 'w.pkl'
    bad.write_text('x')
    meta, _, _ = _fixture('swin')
    with pytest.raises(iw.ImportFailed, match='unknown format'):
        _import(meta, str(bad), tmp_path / 'ckpt')
    with pytest.raises(mapping.MappingError, match='no import rules'):
        mapping.match(None, 'nofamily', {})
