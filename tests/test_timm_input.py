"""The timm pipeline as a whole: resizing vs Pillow, the eval crop, the task hook and the switch."""
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from official.core import exp_factory
from official.core import task_factory
from official.vision.ops import augment
from official_ext import determinism
from official_ext import registry_imports  # noqa: F401
from official_ext import timm_input
from official_ext import timm_mix
from tests import train_testlib as lib


def _photo(h, w, seed=0):
    """A smooth image with edges (resampling filters differ most on edges and noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 127 + 80 * np.sin(xx / 7.0)[..., None] * np.cos(yy / 11.0)[..., None]
    base = base + 40 * ((xx // 13 + yy // 17) % 2)[..., None] + rng.normal(0, 12, (h, w, 3))
    return np.clip(base, 0, 255).astype(np.uint8)


@pytest.mark.parametrize('src,dst', [((375, 500), (224, 224)), ((120, 90), (224, 224)),
                                     ((500, 333), (256, 170))])
def test_resize_matches_pillow_antialiased_bicubic(src, dst):
    img = _photo(*src)
    ours = timm_input.resize_bicubic(tf.constant(img), dst).numpy().astype(float)
    pil = np.asarray(Image.fromarray(img).resize((dst[1], dst[0]), Image.BICUBIC)).astype(float)
    assert np.abs(ours - pil).mean() / 255 <= 1 / 255
    # Without antialiasing a 2x downscale is far off: the check can fail.
    if src[0] > 2 * dst[0]:
        plain = tf.image.resize(tf.constant(img, tf.float32), dst, 'bicubic').numpy()
        assert np.abs(plain - pil).mean() > np.abs(ours - pil).mean()


@pytest.mark.parametrize('shape,crop_pct', [((375, 500), 0.875), ((500, 333), 0.9)])
def test_eval_transform_is_timms_resize_and_centre_crop(shape, crop_pct):
    img = _photo(*shape, seed=1)
    ours = timm_input.eval_image(tf.constant(img), (224, 224), crop_pct).numpy().astype(float)
    # timm: Resize(floor(224 / crop_pct)) of the shorter side, CenterCrop(224) (torchvision).
    scale = int(np.floor(224 / crop_pct))
    h, w = shape
    nh, nw = (scale, int(scale * w / h)) if h <= w else (int(scale * h / w), scale)
    pil = np.asarray(Image.fromarray(img).resize((nw, nh), Image.BICUBIC)).astype(float)
    top, left = int(round((nh - 224) / 2.0)), int(round((nw - 224) / 2.0))
    pil = pil[top:top + 224, left:left + 224]
    assert np.abs(ours - pil).mean() <= 1.0


def test_normalize_is_imagenet_mean_std():
    x = timm_input.normalize(tf.constant([[[0, 128, 255]]], tf.uint8)).numpy()[0, 0]
    np.testing.assert_allclose(x, [(0 - 0.485) / 0.229, (128 / 255 - 0.456) / 0.224,
                                   (1 - 0.406) / 0.225], rtol=1e-6)


@pytest.fixture(scope='module')
def records(tmp_path_factory):
    return lib.write_records(str(tmp_path_factory.mktemp('timm_records')), 16, size=40)


def _task(experiment, train_glob, val_glob, **train):
    cfg = exp_factory.get_exp_config(experiment)
    cfg.override({'task': {
        'model': {'num_classes': 4, 'input_size': [32, 32, 3]},
        'train_data': dict({'input_path': train_glob, 'global_batch_size': 4,
                            'shuffle_buffer_size': 4, 'seed': 3}, **train),
        'validation_data': {'input_path': val_glob, 'global_batch_size': 4}},
        'trainer': {'accumulation_steps': 1}}, is_strict=False)
    return task_factory.get_task(cfg.task)


@pytest.mark.parametrize('experiment', ['convnext_imagenet', 'hornet_imagenet', 'swin_imagenet',
                                        'posmlp_imagenet', 'tf_vision_example_experiment'])
def test_transformer_recipes_select_timm(experiment):
    cfg = exp_factory.get_exp_config(experiment)
    assert cfg.task.train_data.pipeline == 'timm'
    assert cfg.task.validation_data.pipeline == 'timm'


def test_resnet_recipe_keeps_model_gardens_pipeline():
    assert exp_factory.get_exp_config('act_resnet_imagenet').task.train_data.pipeline == \
        'model_garden'


def test_timm_training_input_has_no_stateful_random_op(records):
    task = _task('convnext_imagenet', *records)
    data = task.build_inputs(task.task_config.train_data)
    assert determinism.dataset_stateful_random_ops(data) == []
    x, y = next(iter(data))
    assert x.shape == (4, 32, 32, 3) and x.dtype == tf.bfloat16
    assert y.shape == (4, 4)  # mixed soft labels
    np.testing.assert_allclose(y.numpy().sum(axis=1), 1.0, rtol=1e-5)


def test_timm_eval_input_is_the_centre_crop(records):
    task = _task('convnext_imagenet', *records)
    x, y = next(iter(task.build_inputs(task.task_config.validation_data)))
    assert x.shape == (4, 32, 32, 3) and y.shape == (4,)


def test_switch_selects_each_pipeline(records, monkeypatch):
    used = []
    monkeypatch.setattr(timm_mix.MixupCutmix, '__call__',
                        lambda self, x, y: (used.append('timm') or (tf.cast(x, tf.bfloat16),
                                                                     tf.one_hot(y, 4))))
    stock_call = augment.MixupAndCutmix.__call__
    monkeypatch.setattr(augment.MixupAndCutmix, '__call__',
                        lambda self, x, y: (used.append('stock') or stock_call(self, x, y)))
    for pipeline in ('timm', 'model_garden'):
        task = _task('convnext_imagenet', *records, pipeline=pipeline, aug_type=None)
        task.build_inputs(task.task_config.train_data)
    assert used == ['timm', 'stock']
    task = _task('convnext_imagenet', *records, pipeline='pil')
    with pytest.raises(ValueError, match='pipeline must be one of'):
        task.build_inputs(task.task_config.train_data)


def test_unsupported_timm_settings_are_refused(records):
    task = _task('convnext_imagenet', *records,
                 aug_type={'type': 'autoaug', 'autoaug': {'augmentation_name': 'v0'}})
    with pytest.raises(ValueError, match='randaug only'):
        task.build_inputs(task.task_config.train_data)


def test_accumulation_mixes_each_micro_batch(records):
    task = _task('convnext_imagenet', *records, global_batch_size=2)
    task.accumulation_steps = 2
    x, y = next(iter(task.build_inputs(task.task_config.train_data)))
    assert x.shape[0] == 4 and y.shape == (4, 4)
