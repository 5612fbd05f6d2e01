"""timm's RandAugment (`rand-m9-mstd0.5-inc1` and friends) in TensorFlow, per image.

Why: the ConvNeXt, Swin, HorNet and PosMLP papers trained with timm's RandAugment, which differs
from Model Garden's in its op set (the "increasing" variants), its level-to-argument maps
(PosterizeIncreasing keeps 1 bit at m9, SolarizeIncreasing's threshold is 26, enhance factors
get a random sign), its per-op probability (0.5) and magnitude noise (`mstd`). This module
follows timm 0.9's `timm/data/auto_augment.py` and Pillow's definitions of each op (timm runs
them on PIL images):

- point ops (AutoContrast, Equalize, Invert, Posterize, Solarize, SolarizeAdd) are exact
  look-up tables built as Pillow builds them;
- enhance ops (Color, Contrast, Brightness, Sharpness) blend with Pillow's degenerate image and
  truncate to uint8 as `Image.blend` does;
- geometric ops (Rotate, ShearX/Y, TranslateX/YRel) use Pillow's affine matrices, pixel-centre
  convention and bicubic resampling (timm passes interpolation=bicubic to them) and timm's fill
  colour (the ImageNet mean).

Every random draw goes through `tf.random.uniform` / `tf.random.normal`, which the keyed training
stream turns into stateless ops (official_ext/determinism.py).
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Sequence, Tuple

import tensorflow as tf

LEVEL_DENOM = 10.0  # timm's _LEVEL_DENOM: magnitude 10 is the strongest level.
# timm's `img_mean` hparam: round(255 * ImageNet mean), the fill colour of geometric ops.
FILL_RGB = (124, 116, 104)
TRANSLATE_PCT = 0.45  # timm's default `translate_pct` of TranslateXRel / TranslateYRel.

# timm's _RAND_TRANSFORMS and _RAND_INCREASING_TRANSFORMS (same order; Cutout is not in them).
RAND_TRANSFORMS = (
    'AutoContrast', 'Equalize', 'Invert', 'Rotate', 'Posterize', 'Solarize', 'SolarizeAdd',
    'Color', 'Contrast', 'Brightness', 'Sharpness', 'ShearX', 'ShearY', 'TranslateXRel',
    'TranslateYRel')
RAND_INCREASING_TRANSFORMS = (
    'AutoContrast', 'Equalize', 'Invert', 'Rotate', 'PosterizeIncreasing',
    'SolarizeIncreasing', 'SolarizeAdd', 'ColorIncreasing', 'ContrastIncreasing',
    'BrightnessIncreasing', 'SharpnessIncreasing', 'ShearX', 'ShearY', 'TranslateXRel',
    'TranslateYRel')


# ----------------------------------------------------------------------- level -> argument
def level_arg(name: str, magnitude: tf.Tensor, negate: tf.Tensor) -> tf.Tensor:
    """timm's `LEVEL_TO_ARG[name](magnitude)` with its `_randomly_negate` sign given.

    Args:
        name: a timm op name.
        magnitude: float32 scalar, already clipped to [0, magnitude_max].
        negate: bool scalar, the outcome of timm's `_randomly_negate` coin for this op.

    Returns:
        The op's argument (float32 scalar; integer-valued where timm applies `int()`).
    """
    return tf.cast(_level_arg64(name, tf.cast(magnitude, tf.float64), negate), tf.float32)


def _level_arg64(name: str, magnitude: tf.Tensor, negate: tf.Tensor) -> tf.Tensor:
    # In float64 like timm's Python floats: a float32 1 - 0.81 is one ulp off 0.19, which
    # changes Pillow's truncated blend for a few pixels.
    m = magnitude / LEVEL_DENOM
    sign = tf.where(negate, tf.constant(-1.0, tf.float64), tf.constant(1.0, tf.float64))
    trunc = lambda v: tf.math.floor(v)  # int() of a non-negative float
    if name == 'Rotate':
        return sign * m * 30.0
    if name in ('ShearX', 'ShearY'):
        return sign * m * 0.3
    if name in ('TranslateXRel', 'TranslateYRel'):
        return sign * m * TRANSLATE_PCT
    if name in ('Color', 'Contrast', 'Brightness', 'Sharpness'):
        return m * 1.8 + 0.1
    if name.endswith('Increasing') and name[:-len('Increasing')] in (
            'Color', 'Contrast', 'Brightness', 'Sharpness'):
        return tf.maximum(tf.constant(0.1, tf.float64), 1.0 + sign * m * 0.9)
    if name == 'Posterize':
        return trunc(m * 4.0)
    if name == 'PosterizeIncreasing':
        return 4.0 - trunc(m * 4.0)
    if name == 'Solarize':
        return trunc(m * 256.0)
    if name == 'SolarizeIncreasing':
        return 256.0 - trunc(m * 256.0)
    if name == 'SolarizeAdd':
        return trunc(m * 110.0)
    return tf.constant(0.0, tf.float64)  # AutoContrast, Equalize, Invert take no argument.


# ----------------------------------------------------------------------------- point ops
def _apply_lut(image: tf.Tensor, lut: tf.Tensor) -> tf.Tensor:
    """uint8 image through a per-channel [3, 256] (or shared [256]) int table."""
    lut = tf.cast(tf.clip_by_value(lut, 0, 255), tf.uint8)
    idx = tf.cast(image, tf.int32)
    if lut.shape.rank == 1:
        return tf.gather(lut, idx)
    channels = [tf.gather(lut[c], idx[..., c]) for c in range(3)]
    return tf.stack(channels, axis=-1)


def _histograms(image: tf.Tensor) -> tf.Tensor:
    """[3, 256] int32 per-channel histograms."""
    idx = tf.cast(image, tf.int32)
    return tf.stack([tf.math.bincount(idx[..., c], minlength=256, maxlength=256)
                     for c in range(3)])


def auto_contrast(image: tf.Tensor) -> tf.Tensor:
    """ImageOps.autocontrast(cutoff=0): per channel, stretch [min, max] to [0, 255]."""
    x = tf.cast(image, tf.float64)
    lo = tf.reduce_min(x, axis=[0, 1])[:, None]
    hi = tf.reduce_max(x, axis=[0, 1])[:, None]
    ix = tf.range(256, dtype=tf.float64)[None, :]
    scale = 255.0 / tf.maximum(hi - lo, 1.0)
    stretched = tf.math.floor(ix * scale - lo * scale)  # int(ix * scale + offset)
    lut = tf.where(hi <= lo, ix, stretched)
    return _apply_lut(image, tf.cast(lut, tf.int32))


def equalize(image: tf.Tensor) -> tf.Tensor:
    """ImageOps.equalize: Pillow's histogram equalisation table, per channel."""
    hist = _histograms(image)
    nonzero = hist > 0
    count = tf.reduce_sum(tf.cast(nonzero, tf.int32), axis=1, keepdims=True)
    last_index = 255 - tf.argmax(tf.reverse(tf.cast(nonzero, tf.int32), [1]), axis=1,
                                 output_type=tf.int32)
    last = tf.gather(hist, last_index, batch_dims=1)[:, None]
    step = (tf.reduce_sum(hist, axis=1, keepdims=True) - last) // 255
    before = tf.cumsum(hist, axis=1, exclusive=True)
    lut = (step // 2 + before) // tf.maximum(step, 1)
    identity = tf.range(256)[None, :]
    lut = tf.where((count <= 1) | (step == 0), identity, lut)
    return _apply_lut(image, lut)


def invert(image: tf.Tensor) -> tf.Tensor:
    return 255 - image


def posterize(image: tf.Tensor, bits: tf.Tensor) -> tf.Tensor:
    """Keep the `bits` most significant bits (timm: identity from 8 bits on)."""
    bits = tf.cast(bits, tf.int32)
    mask = 255 - (tf.bitwise.left_shift(1, 8 - tf.minimum(bits, 8)) - 1)
    lut = tf.where(bits >= 8, tf.range(256), tf.bitwise.bitwise_and(tf.range(256), mask))
    return _apply_lut(image, lut)


def solarize(image: tf.Tensor, threshold: tf.Tensor) -> tf.Tensor:
    """ImageOps.solarize: invert every value >= threshold."""
    ix = tf.range(256)
    return _apply_lut(image, tf.where(ix < tf.cast(threshold, tf.int32), ix, 255 - ix))


def solarize_add(image: tf.Tensor, add: tf.Tensor, threshold: int = 128) -> tf.Tensor:
    """timm's solarize_add: values below 128 get `add`, saturating at 255."""
    ix = tf.range(256)
    return _apply_lut(image, tf.where(ix < threshold, tf.minimum(255, ix + tf.cast(add, tf.int32)),
                                      ix))


# --------------------------------------------------------------------------- enhance ops
def _blend(degenerate: tf.Tensor, image: tf.Tensor, factor: tf.Tensor) -> tf.Tensor:
    """Image.blend(degenerate, image, factor): float arithmetic truncated to uint8."""
    d = tf.cast(degenerate, tf.float32)
    value = d + tf.cast(factor, tf.float32) * (tf.cast(image, tf.float32) - d)
    return tf.cast(tf.clip_by_value(tf.math.floor(value), 0.0, 255.0), tf.uint8)


def grayscale(image: tf.Tensor) -> tf.Tensor:
    """Pillow's RGB -> L: (R*19595 + G*38470 + B*7471 + 0x8000) >> 16, as int32 [H, W]."""
    x = tf.cast(image, tf.int32)
    return tf.bitwise.right_shift(x[..., 0] * 19595 + x[..., 1] * 38470 + x[..., 2] * 7471
                                  + 0x8000, 16)


def color(image: tf.Tensor, factor: tf.Tensor) -> tf.Tensor:
    """ImageEnhance.Color: blend with the grayscale image."""
    return _blend(tf.repeat(grayscale(image)[..., None], 3, axis=-1), image, factor)


def contrast(image: tf.Tensor, factor: tf.Tensor) -> tf.Tensor:
    """ImageEnhance.Contrast: blend with a flat image at int(mean(L) + 0.5)."""
    mean = tf.reduce_mean(tf.cast(grayscale(image), tf.float64))
    return _blend(tf.fill(tf.shape(image), tf.math.floor(mean + 0.5)), image, factor)


def brightness(image: tf.Tensor, factor: tf.Tensor) -> tf.Tensor:
    """ImageEnhance.Brightness: blend with black."""
    return _blend(tf.zeros_like(image), image, factor)


def smooth(image: tf.Tensor) -> tf.Tensor:
    """ImageFilter.SMOOTH (3x3 kernel [1 1 1; 1 5 1; 1 1 1] / 13), border pixels kept."""
    x = tf.cast(image, tf.float32)[None]
    kernel = tf.constant([[1., 1., 1.], [1., 5., 1.], [1., 1., 1.]]) / 13.0
    kernel = tf.tile(kernel[:, :, None, None], [1, 1, 3, 1])
    inner = tf.nn.depthwise_conv2d(x, kernel, [1, 1, 1, 1], 'VALID')[0]
    inner = tf.clip_by_value(tf.math.floor(inner + 0.5), 0.0, 255.0)
    padded = tf.pad(inner, [[1, 1], [1, 1], [0, 0]])
    shape = tf.shape(image)
    border = tf.pad(tf.zeros(shape[:2] - 2, tf.bool), [[1, 1], [1, 1]], constant_values=True)
    return tf.cast(tf.where(border[..., None], tf.cast(image, tf.float32), padded), tf.uint8)


def sharpness(image: tf.Tensor, factor: tf.Tensor) -> tf.Tensor:
    """ImageEnhance.Sharpness: blend with the SMOOTH-filtered image."""
    return _blend(smooth(image), image, factor)


# ------------------------------------------------------------------------- geometric ops
def _cubic(v1, v2, v3, v4, d):
    """Pillow's Geometry.c BICUBIC: cubic convolution (a = -1) of four samples at offset d."""
    return v2 + d * ((v3 - v1) + d * ((2 * (v1 - v2) + v3 - v4) + d * (-v1 + v2 - v3 + v4)))


def _affine(image: tf.Tensor, matrix: Sequence[tf.Tensor]) -> tf.Tensor:
    """Pillow's `transform(AFFINE, (a, b, c, d, e, f), resample=BICUBIC)` with timm's fill.

    Pillow maps the output pixel centre (x + .5, y + .5) to the input point
    (a(x+.5) + b(y+.5) + c, d(x+.5) + e(y+.5) + f); a point outside [0, W) x [0, H) takes the
    fill colour, otherwise the 4x4 neighbours (indices clamped at the border) are combined
    with Pillow's cubic, rows first, and truncated to uint8 (float32 arithmetic: a few pixels
    may differ by 1 from Pillow's doubles). TensorFlow's
    projective transform has no bicubic mode, hence the explicit gathers.
    """
    a, b, c, d, e, f = [tf.cast(v, tf.float64) for v in matrix]
    shape = tf.shape(image)
    h, w = shape[0], shape[1]
    ys, xs = tf.meshgrid(tf.range(h, dtype=tf.float64) + 0.5,
                         tf.range(w, dtype=tf.float64) + 0.5, indexing='ij')
    xin = a * xs + b * ys + c
    yin = d * xs + e * ys + f
    inside = ((xin >= 0) & (xin < tf.cast(w, tf.float64))
              & (yin >= 0) & (yin < tf.cast(h, tf.float64)))
    xin, yin = xin - 0.5, yin - 0.5
    x0, y0 = tf.floor(xin), tf.floor(yin)
    # Coordinates in float64 (Pillow's doubles); the 4x4 neighbours in one gather, in float32.
    dx = tf.cast(xin - x0, tf.float32)[..., None]
    dy = tf.cast(yin - y0, tf.float32)[..., None]
    x0 = tf.cast(x0, tf.int32) - 1
    y0 = tf.cast(y0, tf.int32) - 1
    taps = tf.range(4)[:, None, None]
    cols = tf.clip_by_value(x0[None] + taps, 0, w - 1)   # [4, H, W]
    rows = tf.clip_by_value(y0[None] + taps, 0, h - 1) * w
    index = rows[:, None] + cols[None, :]                  # [4 rows, 4 cols, H, W]
    flat = tf.reshape(tf.cast(image, tf.float32), [-1, 3])
    v = tf.gather(flat, index)                             # [4, 4, H, W, 3]
    across = _cubic(v[:, 0], v[:, 1], v[:, 2], v[:, 3], dx)
    value = _cubic(across[0], across[1], across[2], across[3], dy)
    value = tf.clip_by_value(tf.math.floor(value), 0.0, 255.0)
    out = tf.where(inside[..., None], value, tf.constant(FILL_RGB, tf.float32))
    return tf.cast(out, tf.uint8)


def rotate(image: tf.Tensor, degrees: tf.Tensor) -> tf.Tensor:
    """PIL `img.rotate(degrees)`: counter-clockwise about the image centre, same size.

    Pillow rounds the rotation matrix to 15 decimals (so quarter turns are exact); so do we.
    """
    shape = tf.cast(tf.shape(image), tf.float64)
    w, h = shape[1], shape[0]
    angle = -tf.cast(degrees, tf.float64) * (math.pi / 180.0)
    round15 = lambda v: tf.round(v * 1e15) / 1e15
    a, b = round15(tf.cos(angle)), round15(tf.sin(angle))
    d, e = -b, a
    cx, cy = w / 2.0, h / 2.0
    c = a * -cx + b * -cy + cx
    f = d * -cx + e * -cy + cy
    return _affine(image, (a, b, c, d, e, f))


def shear_x(image: tf.Tensor, factor: tf.Tensor) -> tf.Tensor:
    return _affine(image, (1.0, factor, 0.0, 0.0, 1.0, 0.0))


def shear_y(image: tf.Tensor, factor: tf.Tensor) -> tf.Tensor:
    return _affine(image, (1.0, 0.0, 0.0, factor, 1.0, 0.0))


def translate_x_rel(image: tf.Tensor, pct: tf.Tensor) -> tf.Tensor:
    pixels = pct * tf.cast(tf.shape(image)[1], tf.float32)
    return _affine(image, (1.0, 0.0, pixels, 0.0, 1.0, 0.0))


def translate_y_rel(image: tf.Tensor, pct: tf.Tensor) -> tf.Tensor:
    pixels = pct * tf.cast(tf.shape(image)[0], tf.float32)
    return _affine(image, (1.0, 0.0, 0.0, 0.0, 1.0, pixels))


_OPS = {
    'AutoContrast': lambda img, _: auto_contrast(img),
    'Equalize': lambda img, _: equalize(img),
    'Invert': lambda img, _: invert(img),
    'Rotate': rotate,
    'Posterize': posterize, 'PosterizeIncreasing': posterize,
    'Solarize': solarize, 'SolarizeIncreasing': solarize,
    'SolarizeAdd': solarize_add,
    'Color': color, 'ColorIncreasing': color,
    'Contrast': contrast, 'ContrastIncreasing': contrast,
    'Brightness': brightness, 'BrightnessIncreasing': brightness,
    'Sharpness': sharpness, 'SharpnessIncreasing': sharpness,
    'ShearX': shear_x, 'ShearY': shear_y,
    'TranslateXRel': translate_x_rel, 'TranslateYRel': translate_y_rel,
}


def apply_op(name: str, image: tf.Tensor, magnitude: tf.Tensor,
             negate: tf.Tensor = False) -> tf.Tensor:
    """timm's `AugmentOp(name)` at a given (already noised and clipped) magnitude and sign."""
    arg = level_arg(name, tf.convert_to_tensor(magnitude, tf.float32),
                    tf.convert_to_tensor(negate, tf.bool))
    return _OPS[name](image, arg)


# --------------------------------------------------------------------------- RandAugment
def parse_rand_config(config: str) -> Dict[str, float]:
    """Parses timm's RandAugment string, e.g. 'rand-m9-mstd0.5-inc1' or 'rand-m6-n3-mstd1.0-inc1'.

    Returns a dict with magnitude, num_layers, magnitude_std, magnitude_max, increasing, prob
    (timm's defaults where the string is silent: n2, mstd0, mmax10, inc0, p0.5).
    """
    parts = config.split('-')
    if parts[0] != 'rand':
        raise ValueError(f"timm auto_augment '{config}': only RandAugment ('rand-...') is "
                         'supported.')
    out = {'magnitude': 10.0, 'num_layers': 2, 'magnitude_std': 0.0,
           'magnitude_max': LEVEL_DENOM, 'increasing': False, 'prob': 0.5}
    keys = (('mstd', 'magnitude_std'), ('mmax', 'magnitude_max'), ('inc', 'increasing'),
            ('m', 'magnitude'), ('n', 'num_layers'), ('p', 'prob'))
    for part in parts[1:]:
        for prefix, key in keys:
            if part.startswith(prefix):
                value = float(part[len(prefix):])
                out[key] = bool(value) if key == 'increasing' else (
                    int(value) if key == 'num_layers' else value)
                break
        else:
            raise ValueError(f"timm auto_augment '{config}': unknown part '{part}'.")
    return out


class RandAugment:
    """timm's `RandAugment(rand_augment_ops(...), num_layers)` on one uint8 HxWx3 image.

    Each of `num_layers` layers picks an op uniformly with replacement (timm's
    `np.random.choice(..., replace=True)`), applies it with probability `prob`, at a magnitude
    drawn from N(magnitude, magnitude_std) (U(0, magnitude) when the std is infinite) clipped
    to [0, magnitude_max], and with a fair coin for the sign of signed arguments.
    """

    def __init__(self, magnitude: float = 9.0, num_layers: int = 2,
                 magnitude_std: float = 0.5, magnitude_max: Optional[float] = None,
                 increasing: bool = True, prob: float = 0.5,
                 exclude_ops: Sequence[str] = ()):
        ops = RAND_INCREASING_TRANSFORMS if increasing else RAND_TRANSFORMS
        self.ops: Tuple[str, ...] = tuple(o for o in ops if o not in set(exclude_ops))
        if not self.ops:
            raise ValueError('RandAugment: every op is excluded.')
        self.magnitude = float(magnitude)
        self.num_layers = int(num_layers)
        self.magnitude_std = float(magnitude_std)
        self.magnitude_max = float(magnitude_max or LEVEL_DENOM)
        self.prob = float(prob)

    def sample_magnitude(self) -> tf.Tensor:
        """One op's magnitude: timm's noise and clipping."""
        m = tf.constant(self.magnitude)
        if self.magnitude_std == float('inf'):
            m = tf.random.uniform([], 0.0, self.magnitude)
        elif self.magnitude_std > 0:
            m = m + self.magnitude_std * tf.random.normal([])
        return tf.clip_by_value(m, 0.0, self.magnitude_max)

    def __call__(self, image: tf.Tensor) -> tf.Tensor:
        for _ in range(self.num_layers):
            index = tf.random.uniform([], 0, len(self.ops), dtype=tf.int32)
            apply = tf.random.uniform([]) < self.prob
            magnitude = self.sample_magnitude()
            negate = tf.random.uniform([]) > 0.5
            branches = [
                (lambda name=name, img=image: apply_op(name, img, magnitude, negate))
                for name in self.ops]
            chosen = tf.switch_case(tf.where(apply, index, len(self.ops)),
                                    branches + [lambda img=image: tf.identity(img)])
            chosen.set_shape(image.shape)
            image = chosen
        return image
