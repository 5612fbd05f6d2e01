"""CIFAR-10 input: tfds `cifar10` with exact pixels, the authors' pad-and-crop, a training step.

References (automl/GoLU tasks/small_poc/main.py): training images are
RandomHorizontalFlip → RandomCrop(32, padding=4) (zero padding) → ToTensor → Normalize with the
ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225); test images are only
normalised. The expected pixels are built here with numpy from those numbers. tfds' mock data
stands in for CIFAR-10 (nothing is downloaded).
"""
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
import tf_keras

from official.core import task_factory

from official_ext import inputs
from tests import train_testlib as lib

MEAN = np.array([0.485, 0.456, 0.406]) * 255.0
STD = np.array([0.229, 0.224, 0.225]) * 255.0


def _image(seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(32, 32, 3)).astype(np.uint8)


def _parser(**kwargs):
    settings = dict(output_size=[32, 32], num_classes=10, aug_crop=False, dtype='float32')
    settings.update(kwargs)
    return inputs.Parser(**settings)


def _decoded(image, label=3):
    return inputs.TfdsDecoder().decode({'image': tf.constant(image),
                                        'label': tf.constant(label, tf.int64)})


def test_tfds_decoder_keeps_the_pixels():
    image = _image()
    encoded = _decoded(image)['image/encoded']
    np.testing.assert_array_equal(tf.io.decode_image(encoded).numpy(), image)


def test_eval_image_is_the_whole_image_normalised():
    image = _image(1)
    out, label = _parser().parse_fn(False)(_decoded(image))
    np.testing.assert_allclose(out.numpy(), (image - MEAN) / STD, atol=1e-4)
    assert int(label) == 3


def test_train_image_is_a_flipped_or_plain_window_of_the_zero_padded_image():
    image = _image(2)
    padded = np.pad(image.astype(np.float64), [(4, 4), (4, 4), (0, 0)])
    windows = {}
    for top in range(9):
        for left in range(9):
            w = padded[top:top + 32, left:left + 32]
            windows[(top, left, False)] = w
            windows[(top, left, True)] = w[:, ::-1]
    parse = _parser(crop_padding=4, aug_rand_hflip=True).parse_fn(True)
    tf.random.set_seed(0)
    seen = set()
    for _ in range(12):
        out, _ = parse(_decoded(image))
        pixels = out.numpy() * STD + MEAN
        found = [k for k, w in windows.items() if np.allclose(pixels, w, atol=1e-3)]
        assert found, 'the training image is no window of the padded image'
        seen.add(found[0])
    assert len(seen) > 3   # the offsets (and flips) are random


def test_crop_padding_without_aug_crop_off_is_refused():
    with pytest.raises(ValueError, match='aug_crop: false'):
        _parser(crop_padding=4, aug_crop=True)
    with pytest.raises(ValueError, match='integer >= 0'):
        _parser(crop_padding=-1)


@pytest.mark.slow
def test_cifar_yaml_reads_tfds_and_trains_a_step():
    """A CIFAR-10 row (shrunk backbone) reads tfds mock data through the task and trains."""
    cfg = lib.load(os.path.join(lib.CONFIG_DIR, 'golu', 'cifar10_resnet20_golu.yaml'))
    cfg = lib.reduced(cfg).replace(task={'train_data': {'global_batch_size': 8},
                                         'validation_data': {'global_batch_size': 8}})
    task = task_factory.get_task(cfg.task)
    with tfds.testing.mock_data(num_examples=16):
        train = next(iter(task.build_inputs(cfg.task.train_data)))
        val = next(iter(task.build_inputs(cfg.task.validation_data)))
    for images, labels in (train, val):
        assert tuple(images.shape) == (8, 32, 32, 3)
        assert np.all((labels.numpy() >= 0) & (labels.numpy() < 10))
    model = task.build_model()
    optimizer = tf_keras.optimizers.legacy.SGD(0.1)
    optimizer.iterations  # pylint: disable=pointless-statement  (created before the step)
    before = [v.numpy().copy() for v in model.trainable_variables]
    logs = task.train_step(train, model, optimizer, metrics=task.build_metrics(training=True))
    assert np.isfinite(float(logs['loss']))
    changed = sum(not np.array_equal(b, v.numpy())
                  for b, v in zip(before, model.trainable_variables))
    assert changed > len(before) // 2
