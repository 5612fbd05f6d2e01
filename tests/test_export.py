"""export.py round trip: a short demo run, its EMA best checkpoint exported, the SavedModel
reloaded in a fresh Python that cannot import this project, and its logits compared with the
training model's on the same images (normalised here with numpy: ImageNet mean/std x 255)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests import train_testlib as lib

pytestmark = pytest.mark.slow

EXPERIMENT, CONFIG = 'convnext_imagenet', 'configs/demo/convnext_tpgu_digits.yaml'
MODEL = {'num_classes': 4, 'backbone': {'convnext': {'dims': [8, 16, 32, 64],
                                                     'depths': [1, 1, 1, 1]}}}
MEAN = np.array([0.485, 0.456, 0.406]) * 255
STD = np.array([0.229, 0.224, 0.225]) * 255

RELOAD = r'''
import json, sys
import numpy as np
root = sys.argv[1]
assert not any(p and root.startswith(p) or p.startswith(root) for p in sys.path if p), sys.path
try:
    import layers  # noqa: F401  (this project's package must not be importable here)
    raise SystemExit('the project is importable')
except ImportError:
    pass
import tensorflow as tf
fn = tf.saved_model.load(sys.argv[2]).signatures['serving_default']
out = fn(tf.constant(np.load(sys.argv[3])))
np.save(sys.argv[4], out['logits'].numpy())
np.save(sys.argv[5], out['probabilities'].numpy())
print('RESULT' + json.dumps({k: [str(v.dtype.name), v.shape.as_list()]
                             for k, v in fn.structured_input_signature[1].items()}))
'''


def _override(train, val):
    return json.dumps({
        'task': {'model': MODEL,
                 'train_data': {'input_path': train, 'global_batch_size': 8, 'num_examples': 32,
                                'shuffle_buffer_size': 8},
                 'validation_data': {'input_path': val, 'global_batch_size': 8,
                                     'num_examples': 16}},
        'trainer': {'train_steps': 2, 'steps_per_loop': 2, 'summary_interval': 2,
                    'checkpoint_interval': 2, 'validation_interval': 2, 'validation_steps': 2}})


@pytest.fixture(scope='module')
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp('export_run')
    train, val = lib.write_records(str(root / 'records'), 32, size=32, num_classes=4)
    model_dir = str(root / 'run')
    override = _override(train, val)
    proc = lib.run_py([f'--experiment={EXPERIMENT}', '--mode=train_and_eval', '--seed=0',
                       f'--model_dir={model_dir}', f'--config_file={CONFIG}',
                       f'--params_override={override}'])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return model_dir, override


def _export(args):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='')
    return subprocess.run([sys.executable, os.path.join(lib.ROOT, 'export.py')] + args,
                          cwd=lib.ROOT, env=env, capture_output=True, text=True, timeout=400)


def _training_model(override, checkpoint):
    from official_ext import registry_imports  # noqa: F401
    from official_ext import resolve
    model = lib.build(resolve.load(EXPERIMENT, [os.path.join(lib.ROOT, CONFIG)], override))
    tf.train.Checkpoint(model=model).read(checkpoint).assert_existing_objects_matched() \
        .expect_partial()
    return model


def test_saved_model_gives_the_training_models_logits(run_dir, tmp_path):
    model_dir, override = run_dir
    export_dir = str(tmp_path / 'saved')
    proc = _export([f'--experiment={EXPERIMENT}', f'--config_file={CONFIG}',
                    f'--model_dir={model_dir}', '--weights=ema', f'--export_dir={export_dir}',
                    f'--params_override={override}'])
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = json.load(open(os.path.join(export_dir, 'export_info.json')))
    best = tf.train.latest_checkpoint(os.path.join(model_dir, 'ema_best_ckpt'))
    assert info['checkpoint'] == best and info['from_best_checkpoint'] and info['step'] == 2

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)
    paths = [str(tmp_path / n) for n in ('images.npy', 'logits.npy', 'probs.npy')]
    np.save(paths[0], images)
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env['CUDA_VISIBLE_DEVICES'] = ''
    reload = subprocess.run([sys.executable, '-I', '-c', RELOAD, lib.ROOT, export_dir] + paths,
                            cwd=str(tmp_path), env=env, capture_output=True, text=True,
                            timeout=300)
    assert reload.returncode == 0, reload.stderr[-3000:]
    signature = json.loads([l for l in reload.stdout.splitlines()
                            if l.startswith('RESULT')][-1][len('RESULT'):])
    assert signature == {'inputs': ['uint8', [None, None, None, 3]]}
    logits, probs = np.load(paths[1]), np.load(paths[2])

    model = _training_model(override, best)
    expected = model((images.astype(np.float32) - MEAN) / STD, training=False).numpy()
    assert logits.shape == (3, 4)
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4)
    softmax = np.exp(expected - expected.max(1, keepdims=True))
    np.testing.assert_allclose(probs, softmax / softmax.sum(1, keepdims=True), atol=1e-5)
    # Raw weights differ from the EMA ones after two steps: the export picked the EMA model.
    raw = _training_model(override, tf.train.latest_checkpoint(os.path.join(model_dir,
                                                                            'best_ckpt')))
    assert not np.allclose(raw((images - MEAN) / STD, training=False).numpy(), logits,
                           atol=1e-6)


def test_export_refuses_a_used_folder_and_a_run_without_checkpoint(run_dir, tmp_path):
    model_dir, override = run_dir
    used = tmp_path / 'used'
    used.mkdir()
    (used / 'keep.txt').write_text('x')
    proc = _export([f'--experiment={EXPERIMENT}', f'--config_file={CONFIG}',
                    f'--model_dir={model_dir}', f'--export_dir={used}',
                    f'--params_override={override}'])
    assert proc.returncode == 2 and 'is not empty' in proc.stderr, proc.stderr[-2000:]
    proc = _export([f'--experiment={EXPERIMENT}', f'--config_file={CONFIG}',
                    f'--model_dir={tmp_path / "empty"}', f'--export_dir={tmp_path / "new"}',
                    f'--params_override={override}'])
    assert proc.returncode == 2 and 'holds no checkpoint' in proc.stderr, proc.stderr[-2000:]
