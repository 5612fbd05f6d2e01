"""The timm-faithful classification input (`task.train_data.pipeline: timm`).

Why: the ConvNeXt, Swin, HorNet and PosMLP numbers were measured with timm's
`create_transform(is_training=True, auto_augment='rand-m9-mstd0.5-inc1', interpolation='bicubic',
re_prob=0.25, re_mode='pixel')` and `Mixup(...)`, and evaluated with a bicubic resize of the
shorter side to int(224 / crop_pct) and a centre crop. Model Garden's stock parser differs in
every step (see official_ext/timm_aug.py and timm_mix.py). Per training image, in timm's order:

1. RandomResizedCrop as timm samples it (10 attempts, area ~ U(scale) * H*W, log-uniform aspect
   ratio in [3/4, 4/3], w/h rounded, top/left uniform; else the centre-crop fallback), resized
   with antialiased bicubic in float32 and rounded to uint8 (PIL's resize output);
2. horizontal flip with probability 0.5;
3. timm's RandAugment on the uint8 image;
4. ToTensor + Normalize (ImageNet mean/std);
5. RandomErasing, mode 'pixel';
then per batch: mixup/CutMix with one lambda per batch, CutMix lambda corrected for the clipped
box (official_ext/timm_mix.py), in float32 before the cast to the data dtype.

Evaluation: shorter side resized to floor(size / crop_pct) (antialiased bicubic, float32,
rounded as PIL does), centre crop with torchvision's rounding, Normalize.

The settings come from the data config's stock fields (`aug_type.randaug`, `random_erasing`,
`mixup_and_cutmix`, `crop_area_range`, `aug_rand_hflip`, `center_crop_fraction` = crop_pct)
plus `timm` (official_ext/configs/data.py) for what Model Garden has no field for.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import tensorflow as tf

from official_ext import inputs
from official_ext import timm_aug
from official_ext import timm_mix

MEAN_RGB = (0.485, 0.456, 0.406)  # timm's IMAGENET_DEFAULT_MEAN / STD
STD_RGB = (0.229, 0.224, 0.225)


def resize_bicubic(image: tf.Tensor, size: Sequence[int]) -> tf.Tensor:
    """PIL's `resize(size, BICUBIC)`: antialiased bicubic in float32, rounded to uint8 values.

    TensorFlow's `antialias=True` widens the Keys cubic (a = -0.5, Pillow's) by the scale
    factor when downsampling, as Pillow does.
    """
    out = tf.image.resize(tf.cast(image, tf.float32), size, method='bicubic', antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(out), 0.0, 255.0), tf.uint8)


def crop_params(height: tf.Tensor, width: tf.Tensor,
                scale: Tuple[float, float] = (0.08, 1.0),
                ratio: Tuple[float, float] = (3 / 4, 4 / 3),
                attempts: int = 10) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """timm's `RandomResizedCropAndInterpolation.get_params`: (top, left, h, w).

    Attempts (vectorised, the first valid one wins): area ~ U(scale) * H*W, aspect =
    exp(U(log ratio)), w = round(sqrt(area * aspect)), h = round(sqrt(area / aspect)), valid
    when w <= W and h <= H; top ~ randint(0, H - h), left ~ randint(0, W - w). Fallback: the
    whole image clamped to the ratio range, centred.
    """
    hf, wf = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    area = tf.random.uniform([attempts], scale[0], scale[1]) * hf * wf
    aspect = tf.exp(tf.random.uniform([attempts], math.log(ratio[0]), math.log(ratio[1])))
    w = tf.cast(tf.round(tf.sqrt(area * aspect)), tf.int32)
    h = tf.cast(tf.round(tf.sqrt(area / aspect)), tf.int32)
    ok = (w <= width) & (h <= height) & (w > 0) & (h > 0)
    found = tf.reduce_any(ok)
    i = tf.argmax(tf.cast(ok, tf.int32), output_type=tf.int32)
    h, w = tf.gather(h, i), tf.gather(w, i)
    u = tf.random.uniform([2])
    top = tf.minimum(tf.cast(u[0] * tf.cast(height - h + 1, tf.float32), tf.int32), height - h)
    left = tf.minimum(tf.cast(u[1] * tf.cast(width - w + 1, tf.float32), tf.int32), width - w)
    # Fallback (timm): clamp the whole image's aspect ratio into the range, centre it.
    in_ratio = wf / hf
    fw = tf.where(in_ratio < min(ratio), width,
                  tf.where(in_ratio > max(ratio),
                           tf.cast(tf.round(hf * max(ratio)), tf.int32), width))
    fh = tf.where(in_ratio < min(ratio), tf.cast(tf.round(wf / min(ratio)), tf.int32), height)
    ftop, fleft = (height - fh) // 2, (width - fw) // 2
    pick = lambda a, b: tf.where(found, a, b)
    return pick(top, ftop), pick(left, fleft), pick(h, fh), pick(w, fw)


def _decode_crop(image_bytes: tf.Tensor, crop_fn) -> tf.Tensor:
    """Decodes only the crop of a JPEG (fast path), or decodes any other format and slices it."""
    def jpeg():
        shape = tf.image.extract_jpeg_shape(image_bytes)
        top, left, h, w = crop_fn(shape[0], shape[1])
        return tf.image.decode_and_crop_jpeg(image_bytes, tf.stack([top, left, h, w]),
                                             channels=3)

    def other():
        image = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
        shape = tf.shape(image)
        top, left, h, w = crop_fn(shape[0], shape[1])
        return image[top:top + h, left:left + w]

    return tf.cond(tf.io.is_jpeg(image_bytes), jpeg, other)


def eval_image(image: tf.Tensor, size: Sequence[int], crop_pct: float) -> tf.Tensor:
    """timm's eval transform: Resize(floor(size / crop_pct)) of the shorter side, CenterCrop."""
    th, tw = int(size[0]), int(size[1])
    scale_size = math.floor(min(th, tw) / crop_pct)
    shape = tf.shape(image)
    h, w = shape[0], shape[1]
    # torchvision: the shorter side becomes scale_size, the longer int(scale_size * long/short).
    short, long = tf.minimum(h, w), tf.maximum(h, w)
    new_long = tf.cast(tf.math.floor(scale_size * tf.cast(long, tf.float64)
                                     / tf.cast(short, tf.float64)), tf.int32)
    new_h = tf.where(h <= w, scale_size, new_long)
    new_w = tf.where(h <= w, new_long, scale_size)
    resized = resize_bicubic(image, tf.stack([new_h, new_w]))
    top = tf.cast(tf.round(tf.cast(new_h - th, tf.float32) / 2.0), tf.int32)
    left = tf.cast(tf.round(tf.cast(new_w - tw, tf.float32) / 2.0), tf.int32)
    out = resized[top:top + th, left:left + tw]
    out.set_shape([th, tw, 3])
    return out


def normalize(image: tf.Tensor) -> tf.Tensor:
    """ToTensor + Normalize: (x / 255 - mean) / std in float32."""
    x = tf.cast(image, tf.float32) / 255.0
    return (x - tf.constant(MEAN_RGB)) / tf.constant(STD_RGB)


class Parser(inputs.Parser):
    """The label-checking parser (official_ext.inputs) with timm's train and eval transforms.

    Args:
        randaugment: a `timm_aug.RandAugment`, or None.
        erasing: a `timm_mix.RandomErasing`, or None.
        crop_pct: the eval centre-crop fraction (timm's crop_pct).
        scale / ratio: RandomResizedCrop's area and aspect ranges.
        hflip: horizontal flip probability.
        mixed_later: True when a batch mixup follows, which casts to the data dtype itself
            (images stay float32 until the mix).
        kwargs: the stock parser's arguments (output_size, num_classes, dtype, keys, ...).
    """

    def __init__(self, *, randaugment: Optional[timm_aug.RandAugment] = None,
                 erasing: Optional[timm_mix.RandomErasing] = None, crop_pct: float = 0.875,
                 scale: Tuple[float, float] = (0.08, 1.0),
                 ratio: Tuple[float, float] = (3 / 4, 4 / 3), hflip: float = 0.5,
                 mixed_later: bool = False, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 < crop_pct <= 1.0:
            raise ValueError(f'crop_pct (validation_data.center_crop_fraction) must be in (0, 1], '
                             f'got {crop_pct}.')
        self.randaugment = randaugment
        self.erasing = erasing
        self.crop_pct = float(crop_pct)
        self.scale = tuple(float(s) for s in scale)
        self.ratio = tuple(float(r) for r in ratio)
        self.hflip = float(hflip)
        self.mixed_later = mixed_later

    def train_image(self, image_bytes: tf.Tensor) -> tf.Tensor:
        """Encoded image -> augmented, normalised float32 [H, W, 3] (steps 1-5 above)."""
        crop = _decode_crop(image_bytes, lambda h, w: crop_params(h, w, self.scale, self.ratio))
        image = resize_bicubic(crop, self._output_size)
        image.set_shape(list(self._output_size) + [3])
        if self.hflip > 0:
            image = tf.where(tf.random.uniform([]) < self.hflip,
                             tf.reverse(image, [1]), image)
        if self.randaugment is not None:
            image = self.randaugment(image)
        image = normalize(image)
        if self.erasing is not None:
            image = self.erasing(image)
        return image

    def _parse_train_data(self, decoded_tensors):
        image = self.train_image(decoded_tensors[self._image_field_key])
        if not self.mixed_later:
            image = tf.cast(image, self._dtype)
        label = tf.cast(decoded_tensors[self._label_field_key], tf.int32)
        return image, self._checked(label)

    def _parse_eval_data(self, decoded_tensors):
        image = tf.io.decode_image(decoded_tensors[self._image_field_key], channels=3,
                                   expand_animations=False)
        image = normalize(eval_image(image, self._output_size, self.crop_pct))
        label = tf.cast(decoded_tensors[self._label_field_key], tf.int32)
        return tf.cast(image, self._dtype), self._checked(label)


def from_config(params, num_classes: int, parser_kwargs: dict, micro_batches: int = 1):
    """(parser, batch postprocess or None) of the timm pipeline for a data config.

    `parser_kwargs`: the stock parser's arguments (output size, keys, dtype, ...);
    `micro_batches`: gradient-accumulation steps in one input batch; each gets its own mixup
    lambda, as each of timm's loader batches does.

    Raises:
        ValueError: a setting the timm pipeline cannot honour (rather than silently ignoring it).
    """
    timm_cfg = params.timm
    randaugment = None
    if params.aug_type is not None:
        if params.aug_type.type != 'randaug':
            raise ValueError(f"pipeline: timm supports aug_type randaug only, got "
                             f"'{params.aug_type.type}'; use pipeline: model_garden for it.")
        ra = params.aug_type.randaug
        randaugment = timm_aug.RandAugment(
            magnitude=ra.magnitude, num_layers=ra.num_layers, magnitude_std=ra.magnitude_std,
            magnitude_max=timm_cfg.magnitude_max, increasing=timm_cfg.increasing,
            prob=0.5 if ra.prob_to_apply is None else ra.prob_to_apply,
            exclude_ops=[op for op in (ra.exclude_ops or []) if op != 'Cutout'])
    elif params.is_training and params.color_jitter:
        raise ValueError('pipeline: timm without RandAugment would need timm\'s ColorJitter, '
                         'which is not implemented; set color_jitter: 0 or pipeline: '
                         'model_garden.')
    erasing = None
    if params.random_erasing is not None and params.random_erasing.probability > 0:
        re = params.random_erasing
        erasing = timm_mix.RandomErasing(
            probability=re.probability, min_area=re.min_area, max_area=re.max_area,
            min_aspect=re.min_aspect, mode=timm_cfg.erasing_mode)
    mixup = None
    mix = params.mixup_and_cutmix
    if params.is_training and mix is not None and (mix.mixup_alpha > 0 or mix.cutmix_alpha > 0):
        mixup = timm_mix.MixupCutmix(
            num_classes, mixup_alpha=mix.mixup_alpha, cutmix_alpha=mix.cutmix_alpha,
            prob=mix.prob, switch_prob=mix.switch_prob, label_smoothing=mix.label_smoothing,
            output_dtype=tf.as_dtype(params.dtype), groups=micro_batches)
    scale = tuple(params.crop_area_range) if params.aug_crop else (1.0, 1.0)
    low, high = scale
    if not 0.0 < low <= high <= 1.0:
        raise ValueError(f'crop_area_range must satisfy 0 < min <= max <= 1, got {scale}.')
    parser = Parser(randaugment=randaugment, erasing=erasing,
                    crop_pct=params.center_crop_fraction, scale=scale,
                    ratio=tuple(timm_cfg.crop_aspect_ratio),
                    hflip=0.5 if params.aug_rand_hflip else 0.0,
                    mixed_later=mixup is not None, **parser_kwargs)
    return parser, mixup
