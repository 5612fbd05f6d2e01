"""timm's per-image random erasing and per-batch mixup/CutMix in TensorFlow.

Why not Model Garden's: its CutMix draws one lambda per image and never corrects lambda for the
part of the box clipped at the border (label weight ~0.17 below the pixel share on average),
and its random erasing takes a sample as the box centre (the bottom/right band is never erased,
mean erased area 0.12 instead of 0.175). These follow timm 0.9's `timm/data/random_erasing.py`
(`mode='pixel'`) and `timm/data/mixup.py` (`mode='batch'`, `correct_lam=True`).
All draws use `tf.random.uniform` / `tf.random.normal` / `tf.random.gamma`, which the keyed
training stream makes stateless.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import tensorflow as tf


def _first_true(ok: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
    """(any, index of the first True) of a 1-D bool tensor (timm's `for attempt ...: break`)."""
    return tf.reduce_any(ok), tf.argmax(tf.cast(ok, tf.int32), output_type=tf.int32)


def erase_box(height: tf.Tensor, width: tf.Tensor, min_area: float, max_area: float,
              min_aspect: float, max_aspect: float, count: int = 1,
              attempts: int = 10) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """timm's `RandomErasing._erase` box: (found, top, left, h, w).

    Up to 10 attempts: area ~ U(min_area, max_area) * H*W / count, log-aspect ~ U(log min,
    log max), h = round(sqrt(area * aspect)), w = round(sqrt(area / aspect)); the first with
    h < H and w < W is placed with top ~ randint(0, H - h), left ~ randint(0, W - w) (both ends
    included).
    """
    hf, wf = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    area = tf.random.uniform([attempts], min_area, max_area) * hf * wf / count
    aspect = tf.exp(tf.random.uniform([attempts], math.log(min_aspect), math.log(max_aspect)))
    h = tf.cast(tf.round(tf.sqrt(area * aspect)), tf.int32)
    w = tf.cast(tf.round(tf.sqrt(area / aspect)), tf.int32)
    found, i = _first_true((w < width) & (h < height))
    h, w = tf.gather(h, i), tf.gather(w, i)
    u = tf.random.uniform([2])
    top = tf.minimum(tf.cast(u[0] * tf.cast(height - h + 1, tf.float32), tf.int32), height - h)
    left = tf.minimum(tf.cast(u[1] * tf.cast(width - w + 1, tf.float32), tf.int32), width - w)
    return found, top, left, h, w


def box_mask(height, width, top, left, h, w) -> tf.Tensor:
    """[H, W] bool mask of rows [top, top + h) and columns [left, left + w)."""
    rows = tf.range(height)
    cols = tf.range(width)
    in_rows = (rows >= top) & (rows < top + h)
    in_cols = (cols >= left) & (cols < left + w)
    return in_rows[:, None] & in_cols[None, :]


class RandomErasing:
    """timm's RandomErasing(mode='pixel') on one normalised float HxWxC image.

    With probability `probability`, `count` boxes are filled with N(0, 1) noise per pixel and
    channel (`mode='pixel'`), zeros (`'const'`) or one N(0, 1) colour per channel (`'rand'`).
    """

    def __init__(self, probability: float = 0.25, min_area: float = 0.02,
                 max_area: float = 1 / 3, min_aspect: float = 0.3, max_aspect: Optional[float] = None,
                 mode: str = 'pixel', count: int = 1):
        if mode not in ('pixel', 'const', 'rand'):
            raise ValueError(f"random erasing mode must be pixel, const or rand, got '{mode}'.")
        self.probability = float(probability)
        self.min_area, self.max_area = float(min_area), float(max_area)
        self.min_aspect = float(min_aspect)
        self.max_aspect = float(max_aspect or 1.0 / min_aspect)
        self.mode = mode
        self.count = int(count)

    def __call__(self, image: tf.Tensor) -> tf.Tensor:
        shape = tf.shape(image)
        height, width = shape[0], shape[1]
        erase = tf.random.uniform([]) <= self.probability  # timm skips when u > p
        for _ in range(self.count):
            found, top, left, h, w = erase_box(height, width, self.min_area, self.max_area,
                                               self.min_aspect, self.max_aspect, self.count)
            image = tf.cond(found & erase,
                            lambda img=image, t=top, l=left, hh=h, ww=w: self._fill(
                                img, box_mask(height, width, t, l, hh, ww)),
                            lambda img=image: img)
        return image

    def _fill(self, image: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        """The image with the masked box replaced (noise drawn only when a box is erased)."""
        shape = tf.shape(image)
        if self.mode == 'pixel':
            fill = tf.random.normal(shape, dtype=image.dtype)
        elif self.mode == 'rand':
            fill = tf.broadcast_to(tf.random.normal([shape[2]], dtype=image.dtype), shape)
        else:
            fill = tf.zeros_like(image)
        return tf.where(mask[..., None], fill, image)


def _beta(alpha: float) -> tf.Tensor:
    """One Beta(alpha, alpha) draw as a ratio of two Gamma(alpha) draws."""
    g = tf.random.gamma([2], alpha)
    return g[0] / (g[0] + g[1])


def cutmix_box(height: int, width: int, lam: tf.Tensor):
    """timm's `rand_bbox` + `cutmix_bbox_and_lam(correct_lam=True)`: (yl, yh, xl, xh, lam).

    cut = int(size * sqrt(1 - lam)); centre ~ randint(0, size) (upper end excluded); the box
    [c - cut // 2, c + cut // 2) is clipped to the image and lambda becomes 1 - box area / H*W.
    """
    ratio = tf.sqrt(1.0 - tf.cast(lam, tf.float64))
    cut_h = tf.cast(tf.math.floor(height * ratio), tf.int32)
    cut_w = tf.cast(tf.math.floor(width * ratio), tf.int32)
    cy = tf.random.uniform([], 0, height, dtype=tf.int32)
    cx = tf.random.uniform([], 0, width, dtype=tf.int32)
    yl = tf.clip_by_value(cy - cut_h // 2, 0, height)
    yh = tf.clip_by_value(cy + cut_h // 2, 0, height)
    xl = tf.clip_by_value(cx - cut_w // 2, 0, width)
    xh = tf.clip_by_value(cx + cut_w // 2, 0, width)
    area = tf.cast((yh - yl) * (xh - xl), tf.float32)
    return yl, yh, xl, xh, 1.0 - area / float(height * width)


class MixupCutmix:
    """timm's `Mixup(mode='batch', correct_lam=True)`: one lambda and one kind per batch.

    With probability `prob` the batch is mixed with its reverse (timm's `x.flip(0)`): CutMix with
    probability `switch_prob` (lambda ~ Beta(cutmix_alpha), then corrected to the pasted
    pixel share), otherwise mixup (lambda ~ Beta(mixup_alpha)). Labels become timm's
    `mixup_target`: smoothed one-hots (off = s / K, on = 1 - s + s / K) mixed with lambda.
    Images are mixed in float32 and then cast to `output_dtype`.
    """

    def __init__(self, num_classes: int, mixup_alpha: float = 0.8, cutmix_alpha: float = 1.0,
                 prob: float = 1.0, switch_prob: float = 0.5, label_smoothing: float = 0.1,
                 output_dtype: tf.DType = tf.float32, groups: int = 1):
        """`groups`: the batch is that many micro-batches (gradient accumulation), each of which
        is one of timm's loader batches: its own lambda, pairs formed within it."""
        if mixup_alpha <= 0 and cutmix_alpha <= 0:
            raise ValueError('mixup: mixup_alpha or cutmix_alpha must be > 0.')
        self.num_classes = int(num_classes)
        self.mixup_alpha, self.cutmix_alpha = float(mixup_alpha), float(cutmix_alpha)
        self.prob, self.switch_prob = float(prob), float(switch_prob)
        self.label_smoothing = float(label_smoothing)
        self.output_dtype = output_dtype
        self.groups = int(groups)

    def sample(self) -> Tuple[tf.Tensor, tf.Tensor]:
        """timm's `_params_per_batch`: (lam, use_cutmix)."""
        u = tf.random.uniform([2])
        if self.mixup_alpha > 0 and self.cutmix_alpha > 0:
            use_cutmix = u[1] < self.switch_prob
            lam = tf.where(use_cutmix, _beta(self.cutmix_alpha), _beta(self.mixup_alpha))
        elif self.mixup_alpha > 0:
            use_cutmix, lam = tf.constant(False), _beta(self.mixup_alpha)
        else:
            use_cutmix, lam = tf.constant(True), _beta(self.cutmix_alpha)
        mixed = u[0] < self.prob
        return tf.where(mixed, lam, 1.0), use_cutmix & mixed

    def targets(self, labels: tf.Tensor, lam: tf.Tensor) -> tf.Tensor:
        off = self.label_smoothing / self.num_classes
        on = 1.0 - self.label_smoothing + off
        y = tf.one_hot(tf.cast(labels, tf.int32), self.num_classes, on_value=on, off_value=off)
        return y * lam + tf.reverse(y, [0]) * (1.0 - lam)

    def __call__(self, images: tf.Tensor, labels: tf.Tensor):
        """Mixes each of `groups` contiguous slices of the batch on its own (see __init__)."""
        if self.groups == 1:
            return self._mix(images, labels)
        size = images.shape[0]
        if size is None or size % self.groups:
            raise ValueError(f'mixup: the batch ({size}) does not split into '
                             f'{self.groups} micro-batches.')
        step = size // self.groups
        parts = [self._mix(images[i * step:(i + 1) * step], labels[i * step:(i + 1) * step])
                 for i in range(self.groups)]
        return tf.concat([p[0] for p in parts], 0), tf.concat([p[1] for p in parts], 0)

    def _mix(self, images: tf.Tensor, labels: tf.Tensor):
        images = tf.cast(images, tf.float32)
        height, width = images.shape[1], images.shape[2]
        lam, use_cutmix = self.sample()
        flipped = tf.reverse(images, [0])
        yl, yh, xl, xh, cut_lam = cutmix_box(height, width, lam)
        mask = box_mask(height, width, yl, xl, yh - yl, xh - xl)
        cut = tf.where(mask[None, :, :, None], flipped, images)
        mix = images * lam + flipped * (1.0 - lam)
        images = tf.where(use_cutmix, cut, mix)
        lam = tf.where(use_cutmix, cut_lam, lam)
        return tf.cast(images, self.output_dtype), self.targets(labels, lam)
