"""Randomness that is a pure function of a key, so a resumed run replays it exactly.

Why this exists: Model Garden's augmentation (random crop, flip, RandAugment, random erasing,
mixup/cutmix) and its stochastic depth call TensorFlow's *stateful* random ops
(`tf.random.uniform`, `tf.image.sample_distorted_bounding_box`, ...). Their state lives inside
the op kernels: it is not saved in a checkpoint and tf.data refuses to checkpoint an iterator
that holds them ("RandomUniform is stateful"). After a restart every one of those streams starts
again from its first value, so a resumed run augments and drops paths differently from the run
it continues, and with several parallel map calls their order is not even reproducible.

`keyed_randomness(key)` is a context manager used while a function is *traced* (a tf.data map
function, a train step): within it the stateful functions above are replaced by their stateless
counterparts (`tf.random.stateless_uniform`, `tf.image.stateless_sample_distorted_bounding_box`,
...), the n-th call drawing from `fold_in(key, n)`. The key is a tensor built from the run's seed
and the element's position in the training stream (or the optimizer step), so the traced graph
computes the same numbers for the same example whenever and wherever it runs: before or after a
restart, on any replica count of threads. Nothing changes outside the `with` block.

Why replace functions rather than rewrite the augmentations: the stock ops are what the configs
use today; rewriting them all stateless is the Recipes work (timm's pipeline). A replacement can
miss a call path, so `stateful_random_ops()` lists any stateful random op left in a traced graph
and callers refuse to run with one (see `official_ext/stream.py`); the tests check the demo and
full-recipe pipelines and every backbone's train step.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Callable, Iterator, List, Sequence, Set

import tensorflow as tf
from tensorflow.python.ops import random_ops

# Op types whose output depends on hidden kernel state (graph-def names).
STATEFUL_RANDOM_OPS: Set[str] = {
    'RandomUniform', 'RandomUniformInt', 'RandomStandardNormal', 'TruncatedNormal',
    'RandomGamma', 'RandomPoisson', 'RandomPoissonV2', 'RandomShuffle', 'Multinomial',
    'ParameterizedTruncatedNormal', 'SampleDistortedBoundingBox', 'SampleDistortedBoundingBoxV2',
    'RandomCrop',
}

_LOCAL = threading.local()


def _next_seed() -> tf.Tensor:  # Only called while this thread is inside a block.
    """The seed for the next random call inside the active `keyed_randomness` block."""
    state = _LOCAL.stack[-1]
    state['calls'] += 1
    return tf.random.experimental.stateless_fold_in(state['key'], state['calls'])


def _uniform(shape, minval=0, maxval=None, dtype=tf.float32, seed=None, name=None):
    del seed
    dtype = tf.as_dtype(dtype)
    if dtype.is_integer and maxval is None:
        raise ValueError('keyed uniform: integer draws need maxval.')
    return tf.random.stateless_uniform(shape, _next_seed(), minval=minval, maxval=maxval,
                                       dtype=dtype, name=name)


def _normal(shape, mean=0.0, stddev=1.0, dtype=tf.float32, seed=None, name=None):
    del seed
    return tf.random.stateless_normal(shape, _next_seed(), mean=mean, stddev=stddev,
                                      dtype=dtype, name=name)


def _truncated_normal(shape, mean=0.0, stddev=1.0, dtype=tf.float32, seed=None, name=None):
    del seed
    return tf.random.stateless_truncated_normal(shape, _next_seed(), mean=mean, stddev=stddev,
                                                dtype=dtype, name=name)


def _gamma(shape, alpha, beta=None, dtype=tf.float32, seed=None, name=None):
    del seed
    # tf.random.gamma's output shape is shape + broadcast(alpha, beta); the stateless op wants
    # the full shape.
    alpha = tf.convert_to_tensor(alpha, dtype=dtype)
    full = tf.concat([tf.convert_to_tensor(shape, tf.int32), tf.shape(alpha)], axis=0)
    return tf.random.stateless_gamma(full, _next_seed(), alpha=alpha, beta=beta, dtype=dtype,
                                     name=name)


def _shuffle(value, seed=None, name=None):
    del seed
    value = tf.convert_to_tensor(value)
    order = tf.argsort(tf.random.stateless_uniform(tf.shape(value)[:1], _next_seed()))
    return tf.gather(value, order, name=name)


def _categorical(logits, num_samples, dtype=None, seed=None, name=None):
    del seed
    return tf.random.stateless_categorical(logits, num_samples, _next_seed(), dtype=dtype,
                                           name=name)


def _sample_distorted_bounding_box(image_size, bounding_boxes, seed=0,
                                   min_object_covered=0.1, aspect_ratio_range=None,
                                   area_range=None, max_attempts=None,
                                   use_image_if_no_bounding_boxes=None, name=None):
    del seed
    return tf.image.stateless_sample_distorted_bounding_box(
        image_size, bounding_boxes, _next_seed(), min_object_covered=min_object_covered,
        aspect_ratio_range=aspect_ratio_range, area_range=area_range,
        max_attempts=max_attempts,
        use_image_if_no_bounding_boxes=use_image_if_no_bounding_boxes, name=name)


def _flip_left_right(image, seed=None):
    del seed
    return tf.image.stateless_random_flip_left_right(image, _next_seed())


def _flip_up_down(image, seed=None):
    del seed
    return tf.image.stateless_random_flip_up_down(image, _next_seed())


def _brightness(image, max_delta, seed=None):
    del seed
    return tf.image.stateless_random_brightness(image, max_delta, _next_seed())


def _contrast(image, lower, upper, seed=None):
    del seed
    return tf.image.stateless_random_contrast(image, lower, upper, _next_seed())


def _saturation(image, lower, upper, seed=None):
    del seed
    return tf.image.stateless_random_saturation(image, lower, upper, _next_seed())


def _hue(image, max_delta, seed=None):
    del seed
    return tf.image.stateless_random_hue(image, max_delta, _next_seed())


def _random_ops_uniform(shape, minval=0, maxval=None, dtype=tf.float32, seed=None, name=None):
    return _uniform(shape, minval=minval, maxval=maxval, dtype=dtype, seed=seed, name=name)


# (module, attribute, replacement). `tf.random` / `tf.image` serve Model Garden's calls,
# `random_ops` the TensorFlow-internal ones (tf.nn.dropout, Keras' legacy dropout path).
def _replacements() -> List[tuple]:
    return [
        (tf.random, 'uniform', _uniform),
        (tf.random, 'normal', _normal),
        (tf.random, 'truncated_normal', _truncated_normal),
        (tf.random, 'gamma', _gamma),
        (tf.random, 'shuffle', _shuffle),
        (tf.random, 'categorical', _categorical),
        (tf.image, 'sample_distorted_bounding_box', _sample_distorted_bounding_box),
        (tf.image, 'random_flip_left_right', _flip_left_right),
        (tf.image, 'random_flip_up_down', _flip_up_down),
        (tf.image, 'random_brightness', _brightness),
        (tf.image, 'random_contrast', _contrast),
        (tf.image, 'random_saturation', _saturation),
        (tf.image, 'random_hue', _hue),
        (random_ops, 'random_uniform', _random_ops_uniform),
        (random_ops, 'random_normal', _normal),
    ]


_INSTALL_LOCK = threading.Lock()
_installed = {'count': 0, 'saved': []}


def _dispatcher(original: Callable, stateless: Callable) -> Callable:
    """Calls `stateless` in a thread inside `keyed_randomness`, `original` everywhere else."""
    def dispatch(*args, **kwargs):
        if getattr(_LOCAL, 'stack', None):
            return stateless(*args, **kwargs)
        return original(*args, **kwargs)
    return dispatch


def _install() -> None:
    with _INSTALL_LOCK:
        if _installed['count'] == 0:
            for module, name, fn in _replacements():
                original = getattr(module, name)
                _installed['saved'].append((module, name, original))
                setattr(module, name, _dispatcher(original, fn))
        _installed['count'] += 1


def _uninstall() -> None:
    with _INSTALL_LOCK:
        _installed['count'] -= 1
        if _installed['count'] == 0:
            for module, name, original in reversed(_installed['saved']):
                setattr(module, name, original)
            _installed['saved'].clear()


@contextlib.contextmanager
def keyed_randomness(key: tf.Tensor) -> Iterator[None]:
    """Within the block, TF's stateful random functions draw from `fold_in(key, n)` instead.

    Args:
        key: int64 tensor of shape [2], a stateless seed (e.g. from `element_key`).

    Only code *traced* inside the block is affected; the graph it builds holds stateless ops.
    Blocks nest (the innermost key wins). The key is per thread, because MirroredStrategy
    traces each replica's step in its own thread at the same time (with its own replica id in
    the key); the module attributes are replaced while any thread is inside a block, and a
    thread outside every block still gets the original functions.
    """
    key = tf.cast(tf.convert_to_tensor(key), tf.int64)
    stack = getattr(_LOCAL, 'stack', None)
    if stack is None:
        stack = _LOCAL.stack = []
    _install()
    stack.append({'key': key, 'calls': 0})
    try:
        yield
    finally:
        stack.pop()
        _uninstall()


def element_key(seed: int, *indices: tf.Tensor) -> tf.Tensor:
    """A stateless seed for (seed, i, j, ...): `fold_in` of each index in turn."""
    key = tf.constant([seed & 0x7FFFFFFF, (seed >> 31) & 0x7FFFFFFF], tf.int64)
    for index in indices:
        key = tf.random.experimental.stateless_fold_in(key, tf.cast(index, tf.int64))
    return key


def stateful_random_ops(graph_def: tf.compat.v1.GraphDef) -> List[str]:
    """Sorted names of the stateful random op types anywhere in a graph and its functions."""
    found = {node.op for node in graph_def.node if node.op in STATEFUL_RANDOM_OPS}
    for function in graph_def.library.function:
        found |= {node.op for node in function.node_def if node.op in STATEFUL_RANDOM_OPS}
    return sorted(found)


def dataset_stateful_random_ops(dataset: tf.data.Dataset) -> List[str]:
    """Stateful random ops in a dataset's whole graph (map functions included)."""
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(dataset._as_serialized_graph().numpy())  # pylint: disable=protected-access
    return stateful_random_ops(graph_def)


def check_no_stateful(names: Sequence[str], where: str) -> None:
    """Raises when a traced graph still holds stateful random ops (resume would diverge)."""
    if names:
        raise RuntimeError(
            f'{where} still uses stateful random ops {", ".join(names)}: a resumed run would '
            'not replay its randomness. Call it through official_ext.determinism.'
            'keyed_randomness, or add the function that creates these ops to '
            '_replacements() there.')
