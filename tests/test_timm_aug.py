"""timm's RandAugment ops (official_ext/timm_aug.py) against independent numpy formulas.

Each op is compared with tests/timm_reference.py (timm's level maps, Pillow's op definitions)
on images with a full range of values, at the magnitudes the recipes use; geometric ops are
checked on exact cases (integer shifts, quarter turns) and against Pillow's own bicubic affine
transform, which is what timm calls.
"""
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from official_ext import timm_aug
from tests import timm_reference as ref


def _image(h=23, w=31, seed=0):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    img[..., 1] = img[..., 1] // 3 + 60  # a channel whose range is not [0, 255]
    return img


IMG = _image()


def _op(name, magnitude, negate=False, img=IMG):
    return timm_aug.apply_op(name, tf.constant(img), magnitude, negate).numpy()


@pytest.mark.parametrize('m', [0.0, 4.9, 5.0, 9.0, 10.0])
def test_posterize_increasing_bits(m):
    bits = ref.posterize_increasing_bits(m)
    if m == 9.0:
        assert bits == 1  # timm keeps 1 bit at m9 (Model Garden: 3)
    np.testing.assert_array_equal(_op('PosterizeIncreasing', m), ref.posterize(IMG, bits))


@pytest.mark.parametrize('m', [0.0, 5.0, 9.0, 9.7, 10.0])
def test_solarize_increasing_threshold(m):
    threshold = ref.solarize_increasing_threshold(m)
    if m == 9.0:
        assert threshold == 26
    np.testing.assert_array_equal(_op('SolarizeIncreasing', m), ref.solarize(IMG, threshold))


@pytest.mark.parametrize('m', [3.0, 9.0, 10.0])
def test_solarize_add_and_plain_ops(m):
    np.testing.assert_array_equal(_op('SolarizeAdd', m),
                                  ref.solarize_add(IMG, ref.solarize_add_amount(m)))
    np.testing.assert_array_equal(_op('Posterize', m), ref.posterize(IMG, int(m / 10 * 4)))
    np.testing.assert_array_equal(_op('Solarize', m), ref.solarize(IMG, int(m / 10 * 256)))


def test_argumentless_ops():
    np.testing.assert_array_equal(_op('AutoContrast', 9), ref.autocontrast(IMG))
    np.testing.assert_array_equal(_op('Equalize', 9), ref.equalize(IMG))
    np.testing.assert_array_equal(_op('Invert', 9), 255 - IMG)
    flat = np.full((8, 8, 3), 77, np.uint8)  # one value: both are the identity
    np.testing.assert_array_equal(_op('AutoContrast', 9, img=flat), flat)
    np.testing.assert_array_equal(_op('Equalize', 9, img=flat), flat)


ENHANCE = {'Color': ref.color, 'Contrast': ref.contrast, 'Brightness': ref.brightness,
           'Sharpness': ref.sharpness}


@pytest.mark.parametrize('name', sorted(ENHANCE))
@pytest.mark.parametrize('m,negate', [(9.0, False), (9.0, True), (3.0, True), (10.0, True)])
def test_enhance_increasing_factor_and_sign(name, m, negate):
    factor = ref.enhance_increasing_factor(m, negate)
    # m9: 1.81 (stronger) or 0.19 (weaker), never a one-sided brighten/saturate.
    if m == 9.0:
        assert factor == pytest.approx(0.19 if negate else 1.81)
    np.testing.assert_array_equal(_op(name + 'Increasing', m, negate), ENHANCE[name](IMG, factor))


@pytest.mark.parametrize('name', sorted(ENHANCE))
def test_enhance_plain_range(name):
    for m in (0.0, 10.0):  # factors 0.1 .. 1.9
        np.testing.assert_array_equal(_op(name, m), ENHANCE[name](IMG, m / 10 * 1.8 + 0.1))


def test_translate_is_an_exact_pixel_shift_with_the_mean_fill():
    img = _image(16, 16, 1)
    out = timm_aug.translate_x_rel(tf.constant(img), 0.25).numpy()  # +4 px: content moves left
    np.testing.assert_array_equal(out[:, :12], img[:, 4:])
    assert (out[:, 12:] == np.array(timm_aug.FILL_RGB, np.uint8)).all()
    out = timm_aug.translate_y_rel(tf.constant(img), -0.25).numpy()  # -4 rows: moves down
    np.testing.assert_array_equal(out[4:], img[:12])
    assert (out[:4] == np.array(timm_aug.FILL_RGB, np.uint8)).all()


def test_rotate_direction_and_range():
    img = _image(16, 16, 2)
    # 90 degrees counter-clockwise (PIL's rotate) about the centre is np.rot90 on a square.
    np.testing.assert_array_equal(timm_aug.rotate(tf.constant(img), 90.0).numpy(),
                                  np.rot90(img, 1))
    assert ref.rotate_degrees(9, False) == pytest.approx(27.0)
    assert float(timm_aug.level_arg('Rotate', tf.constant(9.0), tf.constant(True))) == \
        pytest.approx(-27.0)


@pytest.mark.parametrize('name,matrix', [
    ('ShearX', lambda f, w, h: (1, f, 0, 0, 1, 0)),
    ('ShearY', lambda f, w, h: (1, 0, 0, f, 1, 0)),
    ('TranslateXRel', lambda f, w, h: (1, 0, f * w, 0, 1, 0)),
    ('TranslateYRel', lambda f, w, h: (1, 0, 0, 0, 1, f * h)),
])
def test_geometric_ops_match_pillow_bicubic_affine(name, matrix):
    img = _image(40, 36, 3)
    pil = Image.fromarray(img)
    scale = 0.3 if name.startswith('Shear') else 0.45
    for m, negate in ((9.0, False), (7.3, True)):
        factor = (-1 if negate else 1) * m / 10 * scale
        want = np.asarray(pil.transform(pil.size, Image.AFFINE, matrix(factor, 36, 40),
                                        resample=Image.BICUBIC,
                                        fillcolor=timm_aug.FILL_RGB)).astype(int)
        diff = np.abs(_op(name, m, negate, img=img).astype(int) - want)
        # Pillow's matrix, pixel centres, fill and cubic; its float rounding moves < 1 % by 1.
        assert diff.max() <= 1 and (diff > 0).mean() < 0.01, (name, negate, diff.mean())


def test_rotate_matches_pillow_bicubic():
    img = _image(33, 41, 4)
    for m, negate in ((9.0, False), (4.0, True)):
        want = np.asarray(Image.fromarray(img).rotate(
            ref.rotate_degrees(m, negate), resample=Image.BICUBIC,
            fillcolor=timm_aug.FILL_RGB)).astype(int)
        diff = np.abs(_op('Rotate', m, negate, img=img).astype(int) - want)
        assert diff.max() <= 1 and (diff > 0).mean() < 0.01, (negate, diff.mean())


def test_parse_timm_strings():
    assert timm_aug.parse_rand_config('rand-m9-mstd0.5-inc1') == dict(
        magnitude=9.0, num_layers=2, magnitude_std=0.5, magnitude_max=10.0, increasing=True,
        prob=0.5)
    cfg = timm_aug.parse_rand_config('rand-m6-n3-mstd1.0-inc1')
    assert (cfg['magnitude'], cfg['num_layers'], cfg['magnitude_std']) == (6.0, 3, 1.0)
    with pytest.raises(ValueError):
        timm_aug.parse_rand_config('augmix-m5')


def test_increasing_op_set_is_timms():
    ra = timm_aug.RandAugment(increasing=True)
    assert len(ra.ops) == 15 and 'Cutout' not in ra.ops
    assert {'PosterizeIncreasing', 'SolarizeIncreasing', 'ColorIncreasing',
            'ContrastIncreasing', 'BrightnessIncreasing', 'SharpnessIncreasing'} <= set(ra.ops)
    assert not any(o.endswith('Increasing') for o in timm_aug.RandAugment(increasing=False).ops)


def _many(fn, n):
    return tf.function(lambda: tf.map_fn(lambda _: fn(), tf.range(n),
                                         fn_output_signature=tf.float32))().numpy()


def test_magnitude_noise_is_a_clipped_normal():
    tf.random.set_seed(1)
    ra = timm_aug.RandAugment(magnitude=9, magnitude_std=0.5)
    draws = _many(ra.sample_magnitude, 4000)
    want = np.clip(np.random.default_rng(0).normal(9, 0.5, 400_000), 0, 10)
    assert draws.max() <= 10.0 and (draws == 10.0).mean() == pytest.approx(
        (want == 10).mean(), abs=0.03)
    assert draws.mean() == pytest.approx(want.mean(), abs=4 * want.std() / np.sqrt(4000))


def test_probability_and_random_sign_per_op():
    # One layer of BrightnessIncreasing at p 0.5, m9 without noise: a third of the images stay,
    # the others are scaled by 1.81 or 0.19 with equal chance.
    tf.random.set_seed(2)
    ra = timm_aug.RandAugment(magnitude=9, magnitude_std=0, num_layers=1, prob=0.5)
    ra.ops = ('BrightnessIncreasing',)
    img = tf.fill([4, 4, 3], tf.constant(100, tf.uint8))
    values = _many(lambda: tf.cast(ra(img)[0, 0, 0], tf.float32), 3000)
    kinds = {v: (values == v).mean() for v in np.unique(values)}
    assert set(kinds) == {19.0, 100.0, 181.0}
    for v, share in ((100.0, 0.5), (19.0, 0.25), (181.0, 0.25)):
        assert share == pytest.approx(0.5 if v == 100 else 0.25, abs=4 * np.sqrt(0.25 / 3000)), v
