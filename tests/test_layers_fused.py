"""The hand-written gradients of `layers.fused` against autodiff of the same formulas.

The value/gradient tests against float64 numpy references (test_layers_*.py) already run through
the hand-written gradients; these check the parts those do not reach: each way the functions
run (compiled on their own inside a tf.function step, not compiled, inlined in an XLA step)
gives the gradients of autodiff through the forward formula (ACT_FUSED off); eager calls run
through every other layer test. Covered as well: ranks 2-4, an unknown batch size, row counts
that do and do not fill the reduction tree, Meta-ACON's per-sample β, and that under mixed
precision the narrow input (not a float32 copy) is what the backward pass keeps.
"""
import contextlib

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import layers
from layers import fused
from test_layers_common import make, rand

FUSED_SPECS = [
    ('tpgu', {'order': 0}), ('tpgu', {'order': 1}), ('tpgu', {'order': 3, 'b_init': 0.3}),
    ('tpgu', {'order': 7, 'b_init': -0.2}),
    ('acon_a', None), ('acon_b', None), ('acon_c', None), ('meta_acon', None),
    ('meta_acon', {'use_bn': False}),
    ('golu', None), ('golu', {'learnable': True, 'beta': 0.7, 'gamma': 1.3}),
    ('coslu', None), ('coslu', {'per_channel': True}), ('sinlu', None),
    ('delu', None), ('delu', {'per_channel': True, 'n_init': 0.4}), ('helu', None),
    ('lincomb', None), ('lincomb', {'per_channel': True}),
    ('normlincomb', None), ('normlincomb', {'per_channel': True}),
]
IDS = [f'{n}-{s}' if s else n for n, s in FUSED_SPECS]
C = 8


@pytest.fixture(autouse=True)
def _seeded():
    tf_keras.utils.set_random_seed(0)


@contextlib.contextmanager
def mode(fused_on: bool, compiled: bool = True):
    old = (fused._ENABLED, fused._COMPILE)  # pylint: disable=protected-access
    fused.set_mode(fused=fused_on, compiled=compiled)
    try:
        yield
    finally:
        fused.set_mode(fused=old[0], compiled=old[1])


def _perturb(layer):
    """Moves every weight off its initial value so no gradient term vanishes by symmetry."""
    rng = np.random.default_rng(1)
    layer.set_weights([w + rng.normal(0, 0.2, w.shape).astype(w.dtype)
                       for w in layer.get_weights()])


def grads(layer, x, cot, wrap=None):
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.cast(layer(x, training=True), tf.float32) * cot)
        return tape.gradient(loss, [x] + layer.trainable_weights)
    fn = wrap(step) if wrap else step
    return [g.numpy() for g in fn(x)]


def assert_close(got, want, what):
    for i, (g, w) in enumerate(zip(got, want)):
        # Float32 rounding of sums over the rows; gradients that are 0 analytically (a bias before
        # a training-mode BN) come out as ~1e-6 noise either way.
        scale = np.abs(w).max()
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-5 * scale + 5e-6,
                                   err_msg=f'{what} [{i}]')


SHAPES = {'rank4-tree': [16, 4, 4, C], 'rank4-odd-rows': [3, 5, 5, C], 'rank3': [6, 7, C],
          'rank2': [16, C]}
# Every function on the shape that fills the reduction tree; the other shapes on a few.
CASES = [(n, s, 'rank4-tree') for n, s in FUSED_SPECS] + [
    (n, s, shape) for n, s in [('tpgu', {'order': 3, 'b_init': 0.3}), ('meta_acon', None),
                               ('lincomb', {'per_channel': True}), ('golu', {'learnable': True})]
    for shape in ('rank4-odd-rows', 'rank3', 'rank2')]


@pytest.mark.parametrize('name,settings,shape', CASES,
                         ids=[f'{n}-{s}-{sh}' if s else f'{n}-{sh}' for n, s, sh in CASES])
def test_every_mode_matches_autodiff(name, settings, shape):
    layer = make(name, settings)
    assert layer.fused_input
    x = rand(SHAPES[shape], scale=2.0)
    cot = rand(SHAPES[shape], scale=1.0, seed=2)
    layer(x)
    _perturb(layer)
    with mode(False):
        want = grads(layer, x, cot)
    with mode(True, compiled=True):
        compiled_graph = grads(layer, x, cot, tf.function)
        inlined_xla = grads(layer, x, cot, lambda f: tf.function(f, jit_compile=True))
    with mode(True, compiled=False):
        plain = grads(layer, x, cot, tf.function)
    assert_close(compiled_graph, want, 'compiled, tf.function')
    assert_close(inlined_xla, want, 'inside an XLA step')
    assert_close(plain, want, 'not compiled')


@pytest.mark.parametrize('name,settings', [('tpgu', {'order': 5, 'b_init': 0.2}),
                                           ('meta_acon', None), ('golu', {'learnable': True})],
                         ids=['tpgu', 'meta_acon', 'golu'])
def test_unknown_batch_size(name, settings):
    """A step traced for any batch size: the reductions cannot use the static tree there."""
    layer = make(name, settings)
    x = rand([4, 3, 3, C])
    cot = rand([4, 3, 3, C], seed=3)
    layer(x)
    _perturb(layer)
    with mode(False):
        want = grads(layer, x, cot)
    sig = [tf.TensorSpec([None, 3, 3, C], tf.float32)]
    got = grads(layer, x, cot, lambda f: tf.function(f, input_signature=sig))
    assert_close(got, want, 'unknown batch')


@pytest.mark.parametrize('policy', ['mixed_bfloat16', 'mixed_float16'])
def test_backward_keeps_the_input_in_the_compute_dtype(policy):
    """Under mixed precision the function receives (and so keeps) the narrow input: the
    forward cast to float32 happens inside it. Checked on the traced graph: no float32 copy of
    the activation's input exists outside the fused functions."""
    tf_keras.mixed_precision.set_global_policy(policy)
    try:
        layer = make('tpgu', {'order': 3})
        x = tf.cast(rand([2, 4, 4, C]), layer.compute_dtype)
        layer(x)

        @tf.function
        def step(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = layer(x)
            return tape.gradient(y, [x] + layer.trainable_weights)

        graph = step.get_concrete_function(x).graph
    finally:
        tf_keras.mixed_precision.set_global_policy('float32')
    casts_of_input = [op for op in graph.get_operations()
                      if op.type == 'Cast' and op.outputs[0].shape.rank == 4]
    assert not casts_of_input, [op.name for op in casts_of_input]


def test_reduction_tree_matches_numpy():
    """`_sum_to_channels` (tree and plain paths) against numpy sums in float64."""
    rng = np.random.default_rng(0)
    for shape in ([16, 4, C], [5, 3, C], [8, C]):
        terms = [rng.normal(size=shape).astype(np.float32) for _ in range(3)]
        got = fused._sum_to_channels([tf.constant(t) for t in terms]).numpy()  # pylint: disable=protected-access
        want = np.stack([t.astype(np.float64).reshape(-1, C).sum(0) for t in terms])
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_registry_marks_every_fused_layer():
    """Every activation whose math is a FusedActivation is covered above."""
    covered = {n for n, _ in FUSED_SPECS}
    marked = {n for n in layers.names() if make(n).fused_input}
    assert marked == covered
