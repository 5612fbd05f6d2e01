"""End-to-end: a few train_and_eval steps through run.py's main on a tiny TFRecord set.

ConvNeXt + TPGU (the full transformer recipe: RandAugment with mstd, mixup/cutmix, random
erasing, bicubic, and 2-step accumulation), Swin, an act_resnet with trainable ACON-C, and the
ACON authors' ShuffleNetV2 (Meta-ACON) and TFNet with their recipe.
Checks: checkpoints and both best checkpoints written, model_summary.txt, raw and EMA metrics
in one evaluation, resuming at the saved step, and the same seed giving the same losses.
"""
import glob
import json
import os

from absl import flags
import numpy as np
import pytest
import tensorflow as tf

from tests import train_testlib as lib

import run  # noqa: E402  (the repo root is on sys.path)

FLAGS = flags.FLAGS
run.define_flags()

pytestmark = pytest.mark.slow

TINY = {
    'convnext': {'type': 'convnext', 'convnext': {
        'dims': [8, 16, 32, 64], 'depths': [1, 1, 1, 1],
        'activation': {'type': 'tpgu', 'tpgu': {'orders': [2, 2, 2, 2]}}}},
    'swin': {'type': 'swin', 'swin': {'dims': [24, 48, 96, 192], 'depths': [1, 1, 1, 1],
                                      'window_size': 2}},
    'act_resnet': {'type': 'act_resnet', 'act_resnet': {
        'block': 'basic', 'dims': [8, 16, 32, 64], 'depths': [1, 1, 1, 1], 'stem_width': 8,
        'activation': {'type': 'acon_c'}}},
    'shufflenet_v2': {'type': 'shufflenet_v2', 'shufflenet_v2': {
        'model_id': '0.5x', 'dims': [16, 32, 64], 'depths': [1, 2, 1], 'stem_width': 8,
        'last_width': 32, 'activation': {'type': 'meta_acon'}}},
    'tfnet': {'type': 'tfnet', 'tfnet': {'model_id': '1.0', 'stem_width': 4,
                                         'depths': [1, 2, 1, 1], 'last_width': 32}},
}


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp('records')
    return lib.write_records(str(out), 32, size=64, num_classes=4)


def override(family, data, train_steps=2, size=32, accumulation=1, ema=True, augment=False):
    train, val = data
    train_data = {'input_path': train, 'global_batch_size': 4, 'dtype': 'float32',
                  'shuffle_buffer_size': 8}
    if not augment:  # no random ops in the input pipeline: the seed alone fixes the run
        train_data.update({'aug_type': None, 'mixup_and_cutmix': None, 'random_erasing': None,
                           'aug_crop': False, 'aug_rand_hflip': False})
    losses = ({'one_hot': False, 'soft_labels': True} if augment else
              {'one_hot': True, 'soft_labels': False})
    opt = {'ema': {'average_decay': 0.9}} if ema else {}
    return json.dumps({
        'runtime': {'distribution_strategy': 'one_device', 'mixed_precision_dtype': 'float32'},
        'task': {'model': {'num_classes': 4, 'input_size': [size, size, 3],
                           'backbone': TINY[family]},
                 'losses': losses,
                 'train_data': train_data,
                 'validation_data': {'input_path': val, 'global_batch_size': 8,
                                     'dtype': 'float32', 'drop_remainder': False}},
        'trainer': {'train_steps': train_steps, 'steps_per_loop': 1, 'summary_interval': 1,
                    'checkpoint_interval': 1, 'validation_interval': train_steps,
                    'validation_steps': 2, 'accumulation_steps': accumulation,
                    'optimizer_config': opt},
    })


def call(experiment, model_dir, params_override, seed=0):
    FLAGS.unparse_flags()
    FLAGS(['run.py', f'--experiment={experiment}', '--mode=train_and_eval',
           f'--model_dir={model_dir}', f'--seed={seed}', f'--params_override={params_override}'])
    return run.run(FLAGS)


def train_losses(model_dir):
    """{step: [training_loss, ...]} from the train summaries (one entry per logged step)."""
    out = {}
    for path in glob.glob(os.path.join(model_dir, 'train', 'events*')):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == 'training_loss':
                    out.setdefault(event.step, []).append(
                        float(tf.make_ndarray(value.tensor)))
    return out


def _checkpoint_steps(model_dir):
    return sorted(int(p.split('-')[-1].split('.')[0])
                  for p in glob.glob(os.path.join(model_dir, 'ckpt-*.index')))


def test_convnext_full_recipe_with_accumulation_and_resume(tmp_path, data):
    model_dir = str(tmp_path / 'convnext')
    logs = call('convnext_imagenet', model_dir,
                override('convnext', data, train_steps=2, accumulation=2, augment=True))
    for key in ('accuracy', 'top_5_accuracy', 'ema_accuracy', 'ema_top_5_accuracy'):
        assert key in logs and 0.0 <= float(logs[key]) <= 1.0, logs
    assert _checkpoint_steps(model_dir) == [1, 2]
    assert glob.glob(os.path.join(model_dir, 'best_ckpt', '*.index'))
    assert glob.glob(os.path.join(model_dir, 'ema_best_ckpt', '*.index'))
    info = json.load(open(os.path.join(model_dir, 'ema_best_ckpt', 'info.json')))
    assert 'ema_accuracy' in info
    summary = open(os.path.join(model_dir, 'model_summary.txt')).read()
    assert 'trainable_params:' in summary and 'flops_G:' in summary

    # Rerunning with more steps resumes at step 2: steps 1-2 are not trained (logged) again.
    call('convnext_imagenet', model_dir,
         override('convnext', data, train_steps=4, accumulation=2, augment=True))
    assert _checkpoint_steps(model_dir)[-1] == 4
    losses = train_losses(model_dir)
    assert sorted(losses) == [1, 2, 3, 4]
    assert all(len(v) == 1 for v in losses.values()), losses


def test_swin_train_and_eval(tmp_path, data):
    model_dir = str(tmp_path / 'swin')
    logs = call('swin_imagenet', model_dir, override('swin', data, size=64))
    assert {'accuracy', 'ema_accuracy'} <= set(logs)
    assert _checkpoint_steps(model_dir) == [1, 2]


def test_resnet_trainable_activation_seeded_and_raw_only_without_ema(tmp_path, data):
    first, second = str(tmp_path / 'a'), str(tmp_path / 'b')
    logs = call('act_resnet_imagenet', first, override('act_resnet', data, ema=False), seed=7)
    assert 'accuracy' in logs and 'top_5_accuracy' in logs
    assert not any(k.startswith('ema_') for k in logs), logs
    assert glob.glob(os.path.join(first, 'best_ckpt', '*.index'))
    assert not os.path.exists(os.path.join(first, 'ema_best_ckpt'))
    call('act_resnet_imagenet', second, override('act_resnet', data, ema=False), seed=7)
    a, b = train_losses(first), train_losses(second)
    assert sorted(a) == [1, 2]
    assert np.isfinite(a[1][0])
    assert a == b


@pytest.mark.parametrize('family,experiment', [('shufflenet_v2', 'shufflenet_v2_imagenet'),
                                               ('tfnet', 'tfnet_imagenet')])
def test_acon_lightweight_train_and_eval(tmp_path, data, family, experiment):
    """ShuffleNetV2 with Meta-ACON and TFNet through run.py with their recipe (SGD, coupled L2
    on kernels, label smoothing, the backbone's own dropout)."""
    model_dir = str(tmp_path / family)
    logs = call(experiment, model_dir, override(family, data, ema=False))
    assert 'accuracy' in logs and 'top_5_accuracy' in logs
    assert _checkpoint_steps(model_dir) == [1, 2]
    losses = train_losses(model_dir)
    assert sorted(losses) == [1, 2] and np.isfinite(losses[2][0])
    params = open(os.path.join(model_dir, 'params.yaml')).read()
    assert f'recipe: {family}' in params
