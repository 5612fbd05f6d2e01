"""Input fixes of the task: RandAugment magnitude noise, crop_area_range, label range check."""
import numpy as np
import pytest
import tensorflow as tf

from data import records
from official.vision.configs import common
from official.vision.ops import augment
from official_ext import inputs
from official_ext import task as task_lib
from official_ext.configs import experiments


def _clipped_normal_moments(mean, std, n=1_000_000):
    draws = np.clip(np.random.default_rng(0).normal(mean, std, n), 0.0, inputs.MAX_LEVEL)
    return draws.mean(), draws.std()


@pytest.mark.parametrize('mean,std', [(9.0, 0.5), (5.0, 2.0)])
def test_magnitude_noise_matches_timm_mstd(mean, std):
    aug = inputs.NoisyRandAugment(magnitude=mean, magnitude_std=std)
    tf.random.set_seed(0)
    # The property builds one random op; inside map_fn it is re-run for every element.
    draws = tf.function(lambda: tf.map_fn(lambda _: aug.sample_level(), tf.range(4000),
                                          fn_output_signature=tf.float32))().numpy()
    want_mean, want_std = _clipped_normal_moments(mean, std)
    assert draws.min() >= 0.0 and draws.max() <= inputs.MAX_LEVEL
    assert draws.mean() == pytest.approx(want_mean, abs=4 * want_std / np.sqrt(4000))
    assert draws.std() == pytest.approx(want_std, rel=0.06)


@pytest.mark.parametrize('std', [0.0, 0.5])
def test_every_op_runs_with_noisy_magnitude(std):
    # Each op alone (stock Model Garden fails on Posterize/Solarize/SolarizeAdd with noise).
    image = tf.cast(tf.random.uniform([24, 24, 3], 0, 255, seed=1), tf.uint8)
    for op in augment.RandAugment().available_ops:
        aug = inputs.NoisyRandAugment(magnitude=9, magnitude_std=std, num_layers=1)
        aug.available_ops = [op]
        out = tf.function(aug.distort)(image)
        assert out.dtype == tf.uint8 and out.shape == image.shape, op


def test_solarize_threshold_follows_the_level():
    # Solarize inverts pixels >= int(level / 10 * 256); m=5 with a tiny std gives 127 or 128.
    aug = inputs.NoisyRandAugment(magnitude=5, magnitude_std=1e-4, num_layers=1,
                                  prob_to_apply=1.0)
    aug.available_ops = ['Solarize']
    x = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, -1)
    expected = [np.where(x < t, x, 255 - x) for t in (127, 128)]
    tf.random.set_seed(0)
    outs = [aug.distort(tf.constant(x)).numpy() for _ in range(12)]
    changed = [o for o in outs if not np.array_equal(o, x)]  # identity branch is 1 in 2
    assert changed
    for out in changed:
        assert any(np.array_equal(out, e) for e in expected)


def test_parser_uses_noisy_randaugment_with_config_std():
    aug_type = common.Augmentation(type='randaug', randaug=common.RandAugment(
        magnitude=9, magnitude_std=0.5, exclude_ops=['Cutout']))
    parser = inputs.Parser(output_size=[32, 32], num_classes=10, aug_type=aug_type)
    assert isinstance(parser._augmenter, inputs.NoisyRandAugment)
    assert parser._augmenter.noise_std == 0.5
    assert 'Cutout' not in parser._augmenter.available_ops


def _write(tmp_path, labels, size=40):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(len(labels), size, size, 3), dtype=np.uint8)
    records.write_image_arrays(images, labels, str(tmp_path), 'train', 1)
    return str(tmp_path / 'train-*')


def _task(path, num_classes=4, batch=2, **train):
    cfg = experiments.TaskConfig()
    cfg.override({
        'model': {'num_classes': num_classes, 'input_size': [32, 32, 3]},
        'train_data': dict({'input_path': path, 'global_batch_size': batch,
                            'is_training': True, 'aug_rand_hflip': False,
                            'shuffle_buffer_size': 1, 'cycle_length': 1}, **train),
        'validation_data': {'input_path': path, 'global_batch_size': batch,
                            'is_training': False},
    })
    return task_lib.ActClassificationTask(cfg)


def _first_images(task, params, batches=3):
    ds = task.build_inputs(params)
    return [x.numpy() for x, _ in ds.take(batches)]


def test_crop_area_range_is_honoured(tmp_path):
    path = _write(tmp_path, [0, 1])
    # Area (1, 1) leaves only the whole image, which the parser replaces by the same centre
    # crop as evaluation: training images become deterministic and equal to eval images.
    task = _task(path, crop_area_range=[1.0, 1.0])
    train = _first_images(task, task.task_config.train_data)
    evals = _first_images(task, task.task_config.validation_data, 1)
    assert sorted(map(lambda a: a.sum(), train[0])) == pytest.approx(
        sorted(map(lambda a: a.sum(), evals[0])), rel=1e-5)
    # The default range crops randomly: repeated epochs differ.
    task = _task(path, crop_area_range=[0.08, 1.0])
    train = _first_images(task, task.task_config.train_data, 4)
    assert not all(np.allclose(train[0], t) for t in train[1:])


def test_bad_crop_area_range_is_rejected(tmp_path):
    task = _task(_write(tmp_path, [0, 1]), crop_area_range=[0.5, 1.5])
    with pytest.raises(ValueError, match='crop_area_range'):
        task.build_inputs(task.task_config.train_data)


@pytest.mark.parametrize('bad_label', [4, -1])
def test_label_outside_num_classes_fails_clearly(tmp_path, bad_label):
    path = _write(tmp_path, [0, bad_label])
    task = _task(path, num_classes=4, batch=1)
    with pytest.raises(tf.errors.InvalidArgumentError, match='num_classes'):
        for _ in task.build_inputs(task.task_config.train_data):
            pass


def test_accumulation_multiplies_the_training_batch(tmp_path):
    path = _write(tmp_path, [0, 1, 2, 3, 0, 1])
    task = _task(path, batch=2)
    task.accumulation_steps = 3
    x, y = next(iter(task.build_inputs(task.task_config.train_data)))
    assert x.shape[0] == 6 and y.shape[0] == 6
    x, _ = next(iter(task.build_inputs(task.task_config.validation_data)))
    assert x.shape[0] == 2


def test_accumulation_steps_validated():
    with pytest.raises(ValueError, match='accumulation_steps'):
        task_lib.ActClassificationTask(experiments.TaskConfig(), accumulation_steps=0)
