"""Gradient accumulation: N micro-batches of B give the update of one batch of N*B.

The reference update is computed independently with a plain GradientTape over the whole
batch (SGD: w - lr * grad of the mean loss), outside any strategy. The accumulating task runs
under a 2-replica CPU MirroredStrategy (in a subprocess: logical devices must be configured
before TensorFlow initialises) and under XLA (jit_compile) on one device.
"""

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
from official_ext.configs import experiments
from official_ext import task as task_lib

N, B, C, LR = 4, 4, 5, 0.5   # 4 micro-batches of 4 = one batch of 16; 2 per replica per micro

def make_model():
    tf_keras.utils.set_random_seed(3)
    inp = tf_keras.Input((8, 8, 3))
    x = tf_keras.layers.Conv2D(6, 3, padding='same')(inp)
    x = tf_keras.layers.LayerNormalization(epsilon=1e-6)(x)
    x = tf_keras.layers.Activation(lambda t: tf.nn.gelu(t, approximate=False))(x)
    x = tf_keras.layers.GlobalAveragePooling2D()(x)
    return tf_keras.Model(inp, tf_keras.layers.Dense(C)(x))

rng = np.random.default_rng(0)
x = rng.normal(size=(N * B, 8, 8, 3)).astype(np.float32)
y = rng.integers(0, C, size=(N * B,)).astype(np.int32)

# Independent reference: one SGD step on the mean cross-entropy of all N*B examples.
ref_model = make_model()
w0 = [w.numpy() for w in ref_model.trainable_variables]
with tf.GradientTape() as tape:
    logits = ref_model(x, training=True)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
grads = tape.gradient(loss, ref_model.trainable_variables)
reference = [w - LR * g.numpy() for w, g in zip(w0, grads)]

def task_for(steps):
    cfg = experiments.TaskConfig()
    cfg.override({'model': {'num_classes': C}, 'losses': {'one_hot': True}})
    return task_lib.ActClassificationTask(cfg, accumulation_steps=steps)

def run(steps, strategy, jit=False):
    task = task_for(steps)
    with strategy.scope():
        model = make_model()
        opt = tf_keras.optimizers.legacy.SGD(LR)
        opt.iterations  # Created in scope, as ActTrainer does (the train step reads it).
        metrics = task.build_metrics(training=True)
    for a, b in zip(model.trainable_variables, w0):
        assert np.array_equal(a.numpy(), b)
    n = strategy.num_replicas_in_sync
    xs, ys = np.split(x, n), np.split(y, n)
    dist = strategy.experimental_distribute_values_from_function(
        lambda ctx: (xs[ctx.replica_id_in_sync_group], ys[ctx.replica_id_in_sync_group]))
    step = tf.function(lambda inp: task.train_step(inp, model, opt, metrics=metrics),
                       jit_compile=jit)
    logs = strategy.run(step, args=(dist,))
    loss = float(strategy.reduce('MEAN', logs['loss'], axis=None))
    diff = max(float(np.max(np.abs(a.numpy() - r)))
               for a, r in zip(model.trainable_variables, reference))
    return diff, loss, float(metrics[0].result())

mirrored = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])
one = tf.distribute.OneDeviceStrategy('/cpu:0')
out = {
    'replicas': mirrored.num_replicas_in_sync,
    'mirrored_accum': run(N, mirrored),
    'mirrored_plain': run(1, mirrored),
    'xla_accum': run(N, one, jit=True),
    'reference_loss': float(loss),
    'reference_change': max(float(np.max(np.abs(r - w))) for r, w in zip(reference, w0)),
}
print('RESULT' + json.dumps(out))
'''


@pytest.fixture(scope='module')
def result():
    return lib.run_result_script(SCRIPT)


def test_two_replicas(result):
    assert result['replicas'] == 2


def test_accumulated_update_equals_big_batch_update(result):
    # The step moves weights by far more than the tolerance, so equality is meaningful.
    assert result['reference_change'] > 1e-2
    diff, loss, _ = result['mirrored_accum']
    assert diff < 1e-5, diff
    assert loss == pytest.approx(result['reference_loss'], rel=1e-5)


def test_plain_step_matches_reference_too(result):
    diff, loss, _ = result['mirrored_plain']
    assert diff < 1e-5, diff
    assert loss == pytest.approx(result['reference_loss'], rel=1e-5)


def test_accumulation_compiles_under_xla(result):
    diff, loss, accuracy = result['xla_accum']
    assert diff < 1e-5, diff
    assert loss == pytest.approx(result['reference_loss'], rel=1e-5)
    assert 0.0 <= accuracy <= 1.0
