"""Export a run's best (raw or EMA) checkpoint as a SavedModel that serves uint8 images.

    python export.py --experiment=convnext_imagenet --config_file=configs/demo/convnext_tpgu_digits.yaml \
        --model_dir=/tmp/act_demo/convnext_tpgu --weights=ema --export_dir=/tmp/act_demo/export

The `serving_default` signature takes one uint8 tensor [N, H, W, 3] (any H, W) and returns
`logits` and `probabilities` [N, num_classes]. Resizing, cropping and normalisation happen inside,
as in the run's evaluation: timm's resize-shorter-side + centre crop (`center_crop_fraction`) and
ImageNet mean/std for `validation_data.pipeline: timm`; Model Garden's centre crop (when
`aug_crop`) + resize (`tf_resize_method`) + normalisation for `pipeline: model_garden`.

Weights: `--weights=raw` loads `best_ckpt/`, `--weights=ema` loads `ema_best_ckpt/` (whose `model`
holds the EMA weights); without that best checkpoint, the latest checkpoint of model_dir (for
`ema`, its optimizer's moving averages). The config comes from the same flags as run.py
(`--experiment`, repeated `--config_file`, `--params_override`), so the model is the run's.

Model Garden's `export_saved_model.py` cannot export these experiments: it never imports this
project's registrations (`LookupError: collection path convnext_imagenet ... is never
registered`), builds the model with the stock factory instead of the task, and always resizes
bilinearly without the timm crop. Its pieces are reused: `official.vision.serving.
image_classification.ClassificationModule` (signature, batching with map_fn, inference step)
and `official.core.export_base.export` (checkpoint restore and `tf.saved_model.save`).
"""
from __future__ import annotations

import json
import os
import sys

from official_ext import quiet_logs

quiet_logs.start_tensorflow()  # Before anything else imports TensorFlow.

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags
from absl import logging
import tensorflow as tf

from official.core import export_base
from official.core import task_factory
from official.core import train_utils
from official.vision.ops import preprocess_ops
from official.vision.serving import image_classification

import run
from official_ext import timm_input

FLAGS = flags.FLAGS


def define_flags() -> None:
    run.define_flags()
    if 'weights' not in FLAGS:
        flags.DEFINE_enum('weights', 'ema', ['ema', 'raw'],
                          'Which best checkpoint to export: ema (ema_best_ckpt/) or raw '
                          '(best_ckpt/); the latest checkpoint when that one does not exist.')
        flags.DEFINE_string('export_dir', None, 'Where the SavedModel is written (a new folder).')


class ExportError(ValueError):
    """A problem the user must fix; printed as one line."""


class ServingModule(image_classification.ClassificationModule):
    """Model Garden's classification serving module with the run's own eval transform and the
    outputs named `logits` and `probabilities`."""

    def _build_inputs(self, image):
        data = self.params.task.validation_data
        size = list(self._input_image_size)
        if getattr(data, 'pipeline', 'model_garden') == 'timm':
            image = timm_input.eval_image(tf.cast(image, tf.uint8), size,
                                          data.center_crop_fraction)
            return timm_input.normalize(image)
        image = tf.cast(image, tf.float32)
        if data.aug_crop:
            image = preprocess_ops.center_crop_image(image, data.center_crop_fraction)
        image = tf.image.resize(image, size, method=data.tf_resize_method)
        image = tf.reshape(image, size + [3])
        return preprocess_ops.normalize_image(
            image, offset=preprocess_ops.MEAN_RGB, scale=preprocess_ops.STDDEV_RGB)

    def serve(self, images):
        outputs = super().serve(images)
        logits = tf.cast(outputs['logits'], tf.float32)
        return {'logits': logits, 'probabilities': tf.nn.softmax(logits)}


def source_checkpoint(params, model_dir: str, weights: str):
    """(checkpoint path, from_best) for `weights`; the latest checkpoint when no best exists."""
    subdir = (params.trainer.best_checkpoint_export_subdir if weights == 'raw'
              else getattr(params.trainer, 'ema_best_checkpoint_export_subdir', ''))
    if subdir:
        best = tf.train.latest_checkpoint(os.path.join(model_dir, subdir))
        if best:
            return best, True
    latest = tf.train.latest_checkpoint(model_dir)
    if latest:
        return latest, False
    raise ExportError(f'{model_dir} holds no checkpoint (no {subdir or "best"}/ and no ckpt-*): '
                      'point --model_dir at a run that has written one.')


def restore(params, model, path: str, from_best: bool, weights: str) -> tf.train.Checkpoint:
    """A checkpoint object holding `model` with the requested weights loaded from `path`."""
    if from_best or weights == 'raw':
        checkpoint = tf.train.Checkpoint(model=model)
        checkpoint.read(path).assert_existing_objects_matched().expect_partial()
        return checkpoint
    # The latest checkpoint keeps the EMA in the optimizer's `average` slots.
    task = task_factory.get_task(params.task)
    optimizer = train_utils.create_optimizer(task, params)
    if not hasattr(optimizer, 'shadow_copy'):
        raise ExportError('--weights=ema, but the run has no EMA (trainer.optimizer_config.ema '
                          'is null) and no ema_best_ckpt/: use --weights=raw.')
    optimizer.shadow_copy(model)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
    checkpoint.read(path).assert_existing_objects_matched().expect_partial()
    optimizer.assign_average_vars(model.variables)
    return tf.train.Checkpoint(model=model)


def export(params, model_dir: str, weights: str, export_dir: str) -> dict:
    """Writes the SavedModel; returns what was exported (also written as export_info.json)."""
    if tf.io.gfile.exists(export_dir) and tf.io.gfile.listdir(export_dir):
        raise ExportError(f'--export_dir={export_dir} exists and is not empty: choose a new '
                          'folder (the export never overwrites one).')
    path, from_best = source_checkpoint(params, model_dir, weights)
    task = task_factory.get_task(params.task)
    model = task.build_model()
    checkpoint = restore(params, model, path, from_best, weights)
    size = list(params.task.model.input_size[:2])
    module = ServingModule(params, batch_size=None, input_image_size=size,
                           input_type='image_tensor', model=model)
    export_base.export(module, ['image_tensor'], export_dir, checkpoint=checkpoint,
                       checkpoint_path=None, timestamped=False)
    info = {'checkpoint': path, 'weights': weights, 'from_best_checkpoint': from_best,
            'step': int(path.rsplit('-', 1)[-1]), 'input_size': size,
            'num_classes': params.task.model.num_classes,
            'pipeline': getattr(params.task.validation_data, 'pipeline', 'model_garden')}
    with tf.io.gfile.GFile(os.path.join(export_dir, 'export_info.json'), 'w') as f:
        f.write(json.dumps(info, indent=2) + '\n')
    if not from_best:
        logging.warning('No %s best checkpoint in %s: exported the latest checkpoint %s.',
                        weights, model_dir, path)
    logging.info('Exported %s weights of %s to %s.', weights, path, export_dir)
    return info


def main(argv) -> None:
    del argv
    try:
        if not FLAGS.model_dir or not FLAGS.export_dir:
            raise ExportError('--model_dir and --export_dir are required.')
        FLAGS.mode = FLAGS.mode or 'eval'
        quiet_logs.python_filters()
        params = run.parse_params(FLAGS)
        info = export(params, FLAGS.model_dir, FLAGS.weights, FLAGS.export_dir)
    except (ExportError, run.ConfigError) as e:
        print(f'export.py: error: {e}', file=sys.stderr, flush=True)
        sys.exit(2)
    print(f'Exported {info["weights"]} weights of step {info["step"]} '
          f'({"best" if info["from_best_checkpoint"] else "latest"} checkpoint) to '
          f'{FLAGS.export_dir}', flush=True)


if __name__ == '__main__':
    define_flags()
    flags.mark_flags_as_required(['experiment'])
    app.run(main)
