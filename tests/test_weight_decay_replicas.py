"""Weight-decay exclusions hold for every replica copy (issue 10, item 1).

Under MirroredStrategy the optimizer updates each replica's copy of a variable, and copies
1..N-1 are named `.../a0/replica_1:0`: an exclusion regex anchored at `/a0:` missed them, so
TPGU's a0 stayed 1.0 on replica 0 but became 0.95 on replica 1 after one step at lr 1.

The check: one AdamW step of the ConvNeXt recipe's optimizer (weight decay 0.05, the recipe's
exclusion list) at learning rate 1 with zero gradients, on a 2-replica CPU MirroredStrategy
(logical devices must be configured before TensorFlow initialises: a subprocess). With a zero
gradient Adam's own update is 0, so the expected values follow from decoupled decay alone:
excluded weights (TPGU a0..an, b; ACON-C p1, p2, beta; biases) keep their values on every
replica, and decayed kernels become exactly (1 - 1 * 0.05) = 0.95 times their initial value on
every replica (this half shows the step really applied decay and can fail).
"""

import numpy as np
import pytest

from tests import train_testlib as lib


SCRIPT = r'''
import json, sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices('CPU')[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import tf_keras
sys.path.insert(0, ROOT)
import layers
from official.core import exp_factory
from official.modeling import optimization
from official_ext import registry_imports  # noqa: F401

strategy = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])
opt_cfg = exp_factory.get_exp_config('convnext_imagenet').trainer.optimizer_config
opt_cfg = optimization.OptimizationConfig({
    'optimizer': opt_cfg.optimizer.as_dict(),
    'learning_rate': {'type': 'constant', 'constant': {'learning_rate': 1.0}}})
with strategy.scope():
    inp = tf_keras.Input((4,))
    x = tf_keras.layers.Dense(6, name='fc')(inp)
    x = layers.get({'type': 'tpgu', 'tpgu': {'order': 3}})(x)
    x = layers.get('acon_c')(x)
    model = tf_keras.Model(inp, x)
    factory = optimization.OptimizerFactory(opt_cfg)
    opt = factory.build_optimizer(factory.build_learning_rate())
before = {v.name: v.numpy() for v in model.trainable_variables}

@tf.function
def step():
    def fn():
        opt.apply_gradients([(tf.zeros_like(v), v) for v in model.trainable_variables])
    strategy.run(fn)
step()
out = {'weight_decay': opt_cfg.optimizer.adamw.weight_decay_rate, 'vars': {}}
for v in model.trainable_variables:
    copies = strategy.experimental_local_results(v)
    out['vars'][v.name] = {'names': [c.name for c in copies],
                           'before': before[v.name].tolist(),
                           'after': [c.numpy().tolist() for c in copies]}
print('RESULT' + json.dumps(out))
'''


@pytest.fixture(scope='module')
def result():
    return lib.run_result_script(SCRIPT)


def _find(result, suffix):
    hits = [v for n, v in result['vars'].items() if n.endswith(suffix)]
    assert len(hits) == 1, (suffix, sorted(result['vars']))
    return hits[0]


def test_two_replica_copies_with_replica_suffix(result):
    a0 = _find(result, '/a0:0')
    assert len(a0['names']) == 2
    assert a0['names'][1].endswith('/a0/replica_1:0'), a0['names']


@pytest.mark.parametrize('leaf', ['/a0:0', '/a1:0', '/a3:0', '/b:0', '/p1:0', '/p2:0',
                                  '/beta:0', 'fc/bias:0'])
def test_excluded_weight_unchanged_on_every_replica(result, leaf):
    var = _find(result, leaf)
    for copy in var['after']:
        np.testing.assert_array_equal(copy, var['before'])
    if leaf == '/a0:0':
        np.testing.assert_array_equal(var['after'], np.ones((2, 6)))


def test_kernel_decayed_on_every_replica(result):
    assert result['weight_decay'] == 0.05   # the ConvNeXt recipe's AdamW weight decay
    var = _find(result, 'fc/kernel:0')
    want = (1.0 - 1.0 * 0.05) * np.asarray(var['before'])
    assert np.abs(want).max() > 1e-3
    for copy in var['after']:
        np.testing.assert_allclose(copy, want, rtol=1e-6)
