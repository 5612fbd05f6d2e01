"""Classification input pieces the stock Model Garden pipeline lacks.

Model Garden 2.20's `ImageClassificationTask.build_inputs` silently ignores three things the
ConvNeXt/Swin/HorNet recipes rely on, so this module supplies them and the task passes them in:

- RandAugment magnitude noise (`randaug.magnitude_std`, timm's `mstd`): the stock parser never
  passes it; the stock op adds noise of std 1 whatever value is given, and its integer ops fail
  with a noisy (tensor) magnitude. `NoisyRandAugment` samples `N(magnitude, magnitude_std)`
  clipped to [0, 10] per applied op, as timm does.
- `crop_area_range` of the data config is never handed to the parser (the stock parser always
  crops with area 0.08..1).
- No pad-and-crop: the CIFAR recipes' `RandomCrop(32, padding=4)` (zero padding, then a random
  crop of the original size) is `crop_padding` here, used with `aug_crop: false` in place of
  the inception-style crop.
- tfds images are re-encoded as JPEG by Model Garden's tfds decoder (quality 100, but with
  chroma subsampling: CIFAR's 32×32 pixels change visibly). `TfdsDecoder` encodes them as PNG,
  which decodes to the dataset's exact pixels in both pipelines.
- Labels are not range-checked: a label equal to `num_classes` (e.g. 1-based ImageNet records
  with `num_classes: 1000`) one-hot encodes to an all-zero row and trains silently on it.
  `Parser` stops the input pipeline with an error that names the cause and the fix.
"""
from __future__ import annotations

from typing import Optional

import tensorflow as tf

from official.vision.dataloaders import classification_input
from official.vision.ops import augment

# Largest RandAugment level in Model Garden's (and timm's) scale.
MAX_LEVEL = 10.0


class NoisyRandAugment(augment.RandAugment):
    """RandAugment whose magnitude is redrawn as N(m, magnitude_std), clipped to [0, 10], per op.

    timm's `rand-m9-mstd0.5`. Model Garden's own `magnitude_std` path cannot be used: it adds
    noise of std 1 whatever the value, and a tensor magnitude breaks its integer-argument ops
    (Posterize, Solarize, SolarizeAdd fail with dtype errors). This subclass draws the level per
    candidate op and casts those ops' arguments to the dtypes their functions need; the op
    choice, probabilities and `prob_to_apply` follow the stock `_distort_common`.
    """

    # Ops whose level-derived argument must match the uint8 image arithmetic.
    _INT_ARG_OPS = ('Posterize', 'Solarize', 'SolarizeAdd')

    def __init__(self, magnitude_std: float = 0.0, **kwargs):
        super().__init__(magnitude_std=0.0, **kwargs)
        if magnitude_std < 0:
            raise ValueError(f'magnitude_std must be >= 0, got {magnitude_std}.')
        self.noise_std = float(magnitude_std)

    def sample_level(self) -> tf.Tensor:
        """One magnitude draw: N(magnitude, noise_std) clipped to [0, MAX_LEVEL]."""
        noisy = self.magnitude + self.noise_std * tf.random.normal([])
        return tf.clip_by_value(noisy, 0.0, MAX_LEVEL)

    def _op(self, op_name: str, image: tf.Tensor, prob: tf.Tensor):
        level = self.sample_level() if self.noise_std > 0 else self.magnitude
        func, _, args = augment._parse_policy_info(  # pylint: disable=protected-access
            op_name, prob, level, [128] * 3, self.cutout_const, self.translate_const, 0.0)
        if self.noise_std > 0 and op_name in self._INT_ARG_OPS:
            # Integer arithmetic in int32 (Solarize's threshold reaches 256), back to uint8.
            args = tuple(tf.cast(a, tf.int32) if tf.is_tensor(a) else a for a in args)
            if op_name == 'SolarizeAdd':
                args = (tf.cast(args[0], tf.int64),) + args[1:]
                return lambda: func(image, None, *args)[0]
            if op_name == 'Posterize':
                return lambda: func(image, None, tf.cast(args[0], tf.uint8))[0]
            return lambda: tf.cast(func(tf.cast(image, tf.int32), None, *args)[0], tf.uint8)
        return lambda: func(image, None, *args)[0]

    def distort(self, image: tf.Tensor) -> tf.Tensor:
        input_dtype = image.dtype
        if input_dtype != tf.uint8:
            image = tf.cast(tf.clip_by_value(image, 0.0, 255.0), tf.uint8)
        for _ in range(self.num_layers):
            choice = tf.random.uniform([], maxval=len(self.available_ops) + 1, dtype=tf.int32)
            branches = []
            for i, op_name in enumerate(self.available_ops):
                prob = tf.random.uniform([], minval=0.2, maxval=0.8, dtype=tf.float32)
                branches.append((i, self._op(op_name, image, prob)))
            applied = tf.switch_case(choice, branches, default=lambda img=image: tf.identity(img))
            if self.prob_to_apply is not None:
                applied = tf.cond(tf.random.uniform([]) < self.prob_to_apply,
                                  lambda a=applied: tf.identity(a),
                                  lambda img=image: tf.identity(img))
            image = applied
        return tf.cast(image, input_dtype)


class TfdsDecoder:
    """A tfds classification example → the record fields the parsers read, pixels unchanged.

    Same keys as Model Garden's `tfds_classification_decoders.ClassificationDecorder`
    ('image/encoded', 'image/class/label'), but lossless PNG instead of JPEG.
    """

    def decode(self, example: dict) -> dict:
        return {'image/encoded': tf.io.encode_png(example['image']),
                'image/class/label': example['label']}


class Parser(classification_input.Parser):
    """The stock classification parser plus magnitude noise, pad-and-crop and a label check."""

    def __init__(self, *, check_labels: bool = True, crop_padding: int = 0, **kwargs):
        super().__init__(**kwargs)
        if int(crop_padding) != crop_padding or crop_padding < 0:
            raise ValueError(f'train_data.crop_padding must be an integer >= 0, got '
                             f'{crop_padding!r}; the CIFAR recipes use 4.')
        if crop_padding and kwargs.get('aug_crop', True):
            raise ValueError('train_data.crop_padding replaces the inception-style random crop; '
                             'set train_data.aug_crop: false with it (as the CIFAR recipes do).')
        self._crop_padding = int(crop_padding)
        aug_type = kwargs.get('aug_type')
        if aug_type is not None and aug_type.type == 'randaug':
            cfg = aug_type.randaug
            self._augmenter = NoisyRandAugment(
                num_layers=cfg.num_layers, magnitude=cfg.magnitude,
                cutout_const=cfg.cutout_const, translate_const=cfg.translate_const,
                magnitude_std=cfg.magnitude_std,
                prob_to_apply=cfg.prob_to_apply, exclude_ops=cfg.exclude_ops)
        self._check_labels = check_labels and not self._is_multilabel

    def _checked(self, label: tf.Tensor) -> tf.Tensor:
        if not self._check_labels:
            return label
        num_classes = int(self._num_classes)
        message = (
            f'label outside [0, {num_classes}) (task.model.num_classes = {num_classes}). A label '
            f'>= num_classes would train on an all-zero one-hot row. Records from '
            f"tensorflow/tpu's converter are 1-based (1..1000): set task.model.num_classes: 1001, "
            f'or rewrite the records with imagenet_to_gcs.py --label_offset=0. Label value:')
        ok = tf.logical_and(label >= 0, label < num_classes)
        with tf.control_dependencies([tf.debugging.Assert(ok, [message, label])]):
            return tf.identity(label)

    def _parse_train_image(self, decoded_tensors):
        """Zero-pads by `crop_padding` and crops back at random before the stock steps."""
        if not self._crop_padding:
            return super()._parse_train_image(decoded_tensors)
        image = decoded_tensors[self._image_field_key]
        if image.dtype == tf.string:
            image = tf.io.decode_image(image, channels=3, expand_animations=False)
        shape = tf.shape(image)
        p = self._crop_padding
        padded = tf.pad(image, [[p, p], [p, p], [0, 0]])
        image = tf.image.random_crop(padded, tf.stack([shape[0], shape[1], 3]))
        image.set_shape([None, None, 3])
        return super()._parse_train_image({**decoded_tensors, self._image_field_key: image})

    def _parse_train_data(self, decoded_tensors):
        image, label = super()._parse_train_data(decoded_tensors)
        return image, self._checked(label)

    def _parse_eval_data(self, decoded_tensors):
        image, label = super()._parse_eval_data(decoded_tensors)
        return image, self._checked(label)


def crop_area_range(params) -> Optional[tuple]:
    """The data config's crop area range as a tuple (None keeps the parser default)."""
    value = getattr(params, 'crop_area_range', None)
    if value is None:
        return None
    low, high = (float(v) for v in value)
    if not 0.0 < low <= high <= 1.0:
        raise ValueError(f'crop_area_range must satisfy 0 < min <= max <= 1, got {value}; the '
                         'ConvNeXt/Swin recipes use [0.08, 1.0].')
    return (low, high)
