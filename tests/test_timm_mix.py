"""timm's mixup/CutMix, random erasing and RandomResizedCrop sampling (official_ext/timm_mix.py,
timm_input.crop_params) against exact pixel shares and an independent sampler of timm's code.
"""
import random

import numpy as np
import pytest
import tensorflow as tf

from official_ext import determinism
from official_ext import timm_input
from official_ext import timm_mix
from tests import timm_reference as ref

B, H, W, K = 6, 20, 28, 10


def _solid_batch():
    """Image i is a flat colour that identifies its class labels[i] (classes all distinct)."""
    labels = np.array([3, 7, 1, 9, 0, 5])
    images = np.repeat(labels[:, None, None, None].astype(np.float32) + 1.0, 3, axis=-1)
    return np.broadcast_to(images, (B, H, W, 3)).copy(), labels


_TRACED = {}


def _mixed(mix, index):
    """The mix of the solid batch, keyed by `index` as the training stream keys its batches."""
    images, labels = _solid_batch()
    if id(mix) not in _TRACED:
        @tf.function
        def run(i):
            with determinism.keyed_randomness(determinism.element_key(11, i)):
                return mix(tf.constant(images), tf.constant(labels))
        _TRACED[id(mix)] = (mix, run)
    x, y = _TRACED[id(mix)][1](tf.constant(index, tf.int64))
    return x.numpy(), y.numpy(), labels


def test_cutmix_label_weight_equals_pixel_share_exactly():
    mix = timm_mix.MixupCutmix(K, mixup_alpha=0.8, cutmix_alpha=1.0, prob=1.0, switch_prob=1.0,
                               label_smoothing=0.0)
    own_weights, at_border = [], 0
    for index in range(60):
        x, y, labels = _mixed(mix, index)
        pasted = x[0, ..., 0] != labels[0] + 1
        at_border += bool(pasted[0].any() or pasted[-1].any() or pasted[:, 0].any()
                          or pasted[:, -1].any())
        for i in range(B):
            for c in range(K):
                share = (x[i, ..., 0] == c + 1).mean()
                assert y[i, c] == pytest.approx(share, abs=1e-6), (index, i, c)
        # One lambda and one box per batch: every image keeps the same share of itself.
        own = [y[i, labels[i]] for i in range(B)]
        assert np.allclose(own, own[0])
        own_weights.append(own[0])
    # Boxes clipped at the border (where an uncorrected lambda is wrong) were among them.
    assert at_border > 10
    assert len(set(np.round(own_weights, 6))) > 30


def test_mixup_blends_images_and_labels_with_one_lambda():
    mix = timm_mix.MixupCutmix(K, mixup_alpha=0.8, cutmix_alpha=1.0, prob=1.0, switch_prob=0.0,
                               label_smoothing=0.1)
    x, y, labels = _mixed(mix, 3)
    lam = (x[0, 0, 0, 0] - (labels[-1] + 1)) / ((labels[0] + 1) - (labels[-1] + 1))
    for i in range(B):
        j = B - 1 - i
        np.testing.assert_allclose(x[i], lam * (labels[i] + 1) + (1 - lam) * (labels[j] + 1),
                                   rtol=1e-5)
        off = 0.1 / K
        want = np.full(K, off)
        want[labels[i]] += lam * (1 - 0.1)
        want[labels[j]] += (1 - lam) * (1 - 0.1)
        np.testing.assert_allclose(y[i], want, atol=1e-5)
    assert y.sum(axis=1) == pytest.approx(np.ones(B))


def test_mixup_probability_and_switch():
    mix = timm_mix.MixupCutmix(K, prob=0.5, switch_prob=0.5, label_smoothing=0.0)
    kinds = []
    for index in range(80):
        x, y, labels = _mixed(mix, 100 + index)
        if np.allclose(y[0, labels[0]], 1.0):
            kinds.append('none')
        elif len(np.unique(x[0, ..., 0])) == 2:
            kinds.append('cutmix')
        else:
            kinds.append('mixup')
    counts = {k: kinds.count(k) / 80 for k in ('none', 'cutmix', 'mixup')}
    assert counts['none'] == pytest.approx(0.5, abs=0.2)
    assert counts['cutmix'] == pytest.approx(0.25, abs=0.15)
    assert counts['mixup'] == pytest.approx(0.25, abs=0.15)


def _tf_masks(n, height, width, probability):
    erasing = timm_mix.RandomErasing(probability=probability, mode='const')
    ones = tf.ones([height, width, 1])
    tf.random.set_seed(5)
    fn = tf.function(lambda: tf.map_fn(lambda _: erasing(ones), tf.range(n),
                                       fn_output_signature=tf.float32))
    return fn().numpy()[..., 0] == 0.0


def _mean_and_error(tf_values, np_values):
    err = 4 * np.sqrt(np.var(np_values) / len(tf_values) + np.var(np_values) / len(np_values))
    return np.mean(tf_values), np.mean(np_values), err


def test_erasing_area_and_placement_match_timm():
    height, width, n = 24, 32, 3000
    got = _tf_masks(n, height, width, probability=1.0)
    rng = random.Random(0)
    want = np.stack([ref.erasing_mask(height, width, probability=1.0, rng=rng)
                     for _ in range(20000)])
    area_tf, area_np, err = _mean_and_error(got.mean(axis=(1, 2)), want.mean(axis=(1, 2)))
    assert area_tf == pytest.approx(area_np, abs=err)
    assert 0.15 < area_np < 0.2  # ~0.175 (Model Garden's erasing: 0.122)
    # Placement: per-pixel erase frequency, the bottom/right band included.
    for region in (np.s_[:, -3:, :], np.s_[:, :, -3:], np.s_[:, :3, :3], np.s_[:, 9:15, 12:20]):
        a, b, e = _mean_and_error(got[region].mean(axis=(1, 2)), want[region].mean(axis=(1, 2)))
        assert a == pytest.approx(b, abs=e), region


def test_erasing_probability_and_pixel_noise():
    got = _tf_masks(2000, 16, 16, probability=0.25)
    assert got.any(axis=(1, 2)).mean() == pytest.approx(0.25, abs=4 * np.sqrt(0.1875 / 2000))
    erasing = timm_mix.RandomErasing(probability=1.0, mode='pixel')
    tf.random.set_seed(3)
    x = erasing(tf.fill([64, 64, 3], 100.0)).numpy()
    noise = x[x != 100.0]
    assert noise.size > 0.02 * x.size
    assert noise.mean() == pytest.approx(0.0, abs=0.1) and noise.std() == pytest.approx(1, abs=0.1)


@pytest.mark.parametrize('height,width', [(300, 400), (500, 120)])
def test_random_resized_crop_statistics_match_timm(height, width):
    n = 4000
    tf.random.set_seed(7)
    fn = tf.function(lambda: tf.map_fn(
        lambda _: tf.stack(timm_input.crop_params(tf.constant(height), tf.constant(width))),
        tf.range(n), fn_output_signature=tf.int32))
    got = fn().numpy()
    rng = random.Random(1)
    want = np.array([ref.random_resized_crop_params(height, width, rng=rng)
                     for _ in range(40000)])
    for name, f in (('area', lambda p: p[:, 2] * p[:, 3] / (height * width)),
                    ('log aspect', lambda p: np.log(p[:, 3] / p[:, 2])),
                    ('top', lambda p: p[:, 0] / height),
                    ('left', lambda p: p[:, 1] / width),
                    ('full height', lambda p: p[:, 2] == height)):
        a, b, e = _mean_and_error(f(got), f(want))
        assert a == pytest.approx(b, abs=max(e, 1e-9)), name
    assert (got[:, 0] + got[:, 2] <= height).all() and (got[:, 1] + got[:, 3] <= width).all()


def test_crop_fallback_is_timms_centre_crop():
    # scale (1, 1) on a very wide image: no attempt fits, timm centres a 4:3 crop.
    out = [int(v) for v in timm_input.crop_params(tf.constant(100), tf.constant(400),
                                                  scale=(1.0, 1.0))]
    assert out == list(ref.random_resized_crop_params(100, 400, scale=(1.0, 1.0)))


def test_each_accumulation_micro_batch_is_mixed_on_its_own():
    # 6 images as 3 micro-batches of 2: each pair is mixed with itself only, with its own lambda.
    mix = timm_mix.MixupCutmix(K, prob=1.0, switch_prob=1.0, label_smoothing=0.0, groups=3)
    x, y, labels = _mixed(mix, 7)
    own = []
    for g in range(3):
        a, b = 2 * g, 2 * g + 1
        assert y[a, labels[a]] == pytest.approx(y[b, labels[b]], abs=1e-6)
        assert y[a, labels[a]] + y[a, labels[b]] == pytest.approx(1.0, abs=1e-6)
        assert set(np.unique(x[a, ..., 0])) <= {labels[a] + 1.0, labels[b] + 1.0}
        own.append(y[a, labels[a]])
    assert len(set(np.round(own, 6))) == 3
