"""The keyed training stream and keyed randomness behind exact resume (no training here).

Checked against independent expectations: a stream started at step s yields exactly the batches
an uninterrupted stream yields from step s on (across an epoch boundary, with random
augmentation and mixup/cutmix on); each epoch is a permutation of every record; no stateful
random op is left in the input pipeline or in any backbone's train step.
"""
import collections

import numpy as np
import pytest
import tensorflow as tf

from official.core import exp_factory
from official.core import task_factory
from official.modeling import optimization

from official_ext import determinism
from official_ext import registry_imports  # noqa: F401
from official_ext import stream
from tests import train_testlib as lib

N_RECORDS, BATCH = 24, 4  # 6 batches per epoch.


@pytest.fixture(scope='module')
def records(tmp_path_factory):
    return lib.write_records(str(tmp_path_factory.mktemp('records')), N_RECORDS, size=24)


def _task(train_glob, augment: bool, seed: int = 5):
    cfg = exp_factory.get_exp_config('convnext_imagenet')
    train_data = {'input_path': train_glob, 'global_batch_size': BATCH, 'dtype': 'float32',
                  'shuffle_buffer_size': 10, 'seed': seed}
    if not augment:
        train_data.update({'aug_type': None, 'mixup_and_cutmix': None, 'random_erasing': None,
                           'aug_crop': False, 'aug_rand_hflip': False})
    cfg.override({'task': {'model': {'num_classes': 4, 'input_size': [16, 16, 3]},
                           'train_data': train_data}, 'trainer': {'accumulation_steps': 1}},
                 is_strict=False)
    return task_factory.get_task(cfg.task)


def _batches(task, start_step: int, count: int):
    task.start_step = start_step
    data = task.build_inputs(task.task_config.train_data)
    return [(f.numpy(), l.numpy()) for f, l in data.take(count)]


def test_keyed_randomness_is_a_function_of_the_key():
    def draw(key):
        with determinism.keyed_randomness(key):
            return tf.function(lambda: tf.random.uniform([3]) + tf.random.normal([2, 1]))()

    k1, k2 = determinism.element_key(1, 7), determinism.element_key(1, 8)
    np.testing.assert_array_equal(draw(k1).numpy(), draw(k1).numpy())
    assert not np.array_equal(draw(k1).numpy(), draw(k2).numpy())
    assert determinism._installed["count"] == 0  # the originals are back after the block


def test_stateful_ops_are_detected():
    graph = tf.function(lambda: tf.random.uniform([2])).get_concrete_function().graph
    assert determinism.stateful_random_ops(graph.as_graph_def()) == ['RandomUniform']
    with pytest.raises(RuntimeError, match='stateful random ops RandomUniform'):
        determinism.check_no_stateful(['RandomUniform'], 'x')


@pytest.mark.parametrize('augment', [False, True])
def test_stream_from_step_s_equals_uninterrupted_stream(records, augment):
    train_glob, _ = records
    full = _batches(_task(train_glob, augment), 0, 10)
    for start in (3, 7):  # Inside epoch 0; inside epoch 1 (after the epoch boundary at 6).
        resumed = _batches(_task(train_glob, augment), start, 10 - start)
        for (f, l), (rf, rl) in zip(full[start:], resumed):
            np.testing.assert_array_equal(f, rf)
            np.testing.assert_array_equal(l, rl)


def test_each_epoch_is_a_new_permutation_of_every_record(records):
    train_glob, _ = records
    batches = _batches(_task(train_glob, augment=False), 0, 12)
    # Without augmentation the image's mean identifies the record.
    epochs = [[float(img.mean()) for f, _ in batches[e * 6:(e + 1) * 6] for img in f]
              for e in (0, 1)]
    assert collections.Counter(np.round(epochs[0], 4)) == collections.Counter(
        np.round(epochs[1], 4))
    assert len(set(np.round(epochs[0], 4))) == N_RECORDS
    assert epochs[0] != epochs[1]


def test_different_seeds_give_different_streams(records):
    train_glob, _ = records
    a = _batches(_task(train_glob, augment=True, seed=1), 0, 2)
    b = _batches(_task(train_glob, augment=True, seed=2), 0, 2)
    assert not np.array_equal(a[0][0], b[0][0])


def test_full_recipe_pipeline_has_no_stateful_random_op(records):
    """The ConvNeXt recipe: RandAugment + mstd, mixup/cutmix, random erasing, crop, flip."""
    train_glob, _ = records
    task = _task(train_glob, augment=True)
    cfg = task.task_config.train_data
    assert cfg.aug_type is not None and cfg.mixup_and_cutmix is not None
    assert cfg.random_erasing is not None
    data = task.build_inputs(cfg)  # stream.build raises if a stateful op remained
    assert determinism.dataset_stateful_random_ops(data) == []


def test_record_counts_prefer_the_converter_manifest(tmp_path, records):
    train_glob, _ = records
    files = sorted(tf.io.gfile.glob(train_glob))
    assert sum(stream.record_counts(files)) == N_RECORDS
    state = tmp_path / 'conversion_state'
    state.mkdir()
    copy = tmp_path / 'train-00000-of-00001'
    tf.io.gfile.copy(files[0], str(copy))
    (state / 'train-00000-of-00001.json').write_text('{"written": 99}')
    assert stream.record_counts([str(copy)]) == [99]


@pytest.mark.parametrize('family', sorted(lib.REDUCED))
def test_train_step_of_every_backbone_has_no_stateful_random_op(family):
    cfg = exp_factory.get_exp_config('act_image_classification')
    backbone = dict(lib.REDUCED[family])
    if family != 'act_resnet':
        backbone['drop_path_rate'] = 0.2
    size = lib.REDUCED_INPUT.get(family, 32)
    cfg.override({'task': {'model': {'num_classes': 4, 'input_size': [size, size, 3],
                                     'dropout_rate': 0.2,
                                     'backbone': {'type': family, family: backbone}}}},
                 is_strict=False)
    exp = exp_factory.get_exp_config('convnext_imagenet')
    exp.override({'task': cfg.task.as_dict(), 'trainer': {'optimizer_config': {'ema': None}}},
                 is_strict=False)
    task = task_factory.get_task(exp.task)
    model = task.build_model()
    optimizer = optimization.OptimizerFactory(exp.trainer.optimizer_config).build_optimizer(0.1)
    images = tf.zeros([2, size, size, 3])
    labels = tf.constant([0, 1])
    step = tf.function(lambda x, y: task.train_step((x, y), model, optimizer))
    graph = step.get_concrete_function(images, labels).graph.as_graph_def()
    assert determinism.stateful_random_ops(graph) == []
