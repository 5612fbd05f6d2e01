"""Train and evaluate the project's experiments: the seed README's command, on TPU, GPU or CPU.

    python3 run.py --experiment=convnext_imagenet --mode=train_and_eval --seed=0 --tpu=local \
        --model_dir=gs://bucket/convnext_t --log_dir=logs/convnext_t \
        --config_file=configs/tpgu/convnext_tiny_tpgu_7_7_7_7.yaml

This is Model Garden's `official/vision/train.py` flow (`train_lib.run_experiment`, Orbit)
with what it lacks for this project:

- `--seed` seeds Python, NumPy and TensorFlow and the input readers' shuffles (Model Garden
  has no seed flag); `--log_dir` is
  where absl writes the log file (TensorBoard summaries stay under model_dir).
- Strategy selection: `--tpu=NAME` (e.g. `local`) always means TPUStrategy; asking for a TPU
  where there is none fails in seconds with a message saying how to run on GPU/CPU.
  `mirrored` uses every visible GPU (no `num_gpus` needed) or every logical CPU device;
  `one_device` uses GPU:0 if present, else the CPU; `multi_worker_mirrored` reads TF_CONFIG.
  A YAML `runtime.tpu` is kept when `--tpu` is not given (the stock parser blanks it).
- The trainer is `official_ext.trainer.ActTrainer` (raw + EMA metrics, two best checkpoints,
  gradient accumulation) under `official_ext.controller.ActController`.
- Integrity: rerunning a command resumes from model_dir's latest checkpoint exactly where the
  interrupted run was (same batches, same random draws: official_ext/stream.py,
  official_ext/determinism.py), with evaluations and checkpoints on the same steps; a model_dir
  that holds another model's checkpoints is refused before anything is built
  (official_ext/model_dir.py); params.yaml keeps the first run's config and later runs add
  params-<UTC time>.yaml; a NaN/Inf loss stops the run (exit 1) without checkpointing it; the
  demo set is only written into the demo's own folder.
- At start the model's trainable parameters and FLOPs (TensorFlow profiler count / 2, the
  seed table's convention) are logged and written to model_dir/model_summary.txt.
- Logs a person reads (official_ext/quiet_logs.py): each line once, no C++ INFO notices
  (TF_CPP_MIN_LOG_LEVEL=0 brings them back), no cuInit error on machines without a GPU; each
  training loop logs steps/s, images/s and the ETA, each evaluation one line of raw and EMA
  top-1.
"""
from __future__ import annotations

import json
import os
import random
import socket
import sys
from typing import Optional

from official_ext import quiet_logs

quiet_logs.start_tensorflow()  # Before anything else imports TensorFlow.

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf
import tf_keras

from official.common import distribute_utils
from official.common import flags as tfm_flags
from official.core import task_factory
from official.core import train_lib
from official.core import train_utils
from official.modeling import performance

from data import check as data_check
from data import records
from official_ext import model_dir as model_dir_lib
from official_ext import registry_imports  # noqa: F401  (backbones, experiments, task)
from official_ext import resolve
from official_ext import validate
from official_ext.controller import ActController
from official_ext.controller import NonFiniteError
from official_ext.trainer import ActTrainer

FLAGS = flags.FLAGS
MODES = ('train', 'eval', 'train_and_eval', 'continuous_eval')
OUR_EXPERIMENTS = ('convnext_imagenet', 'hornet_imagenet', 'swin_imagenet', 'act_resnet_imagenet',
                   'posmlp_imagenet', 'act_vit_imagenet', 'tiny_vit_imagenet',
                   'cifar_resnet_cifar10', 'cifar_wide_resnet_cifar10',
                   'densenet_imagenet', 'densenet_cifar10', 'act_efficientnet_imagenet',
                   'shufflenet_v2_imagenet', 'tfnet_imagenet',
                   'tf_vision_example_experiment', 'act_image_classification')


def define_flags() -> None:
    """Model Garden's flags (--experiment --mode --model_dir --config_file --params_override
    --tpu ...) plus --seed and --deterministic. --log_dir is absl's own flag."""
    if 'experiment' not in FLAGS:
        tfm_flags.define_flags()
    if 'seed' not in FLAGS:
        flags.DEFINE_integer('seed', None, 'Seeds Python, NumPy and TensorFlow.')
        flags.DEFINE_bool('check_data', False,
                          'Before training, read every record of every training and validation '
                          'file with its CRC check (by default only the first record of each '
                          'training file and all of the validation set are read).')
        flags.DEFINE_bool('deterministic', False,
                          'Also enable TensorFlow op determinism, for bit-identical reruns and '
                          'resumes (the input and its augmentation are deterministic anyway; '
                          'some kernels, e.g. on GPUs, are not without it).')


class ConfigError(ValueError):
    """A configuration or environment problem the user must fix; printed without traceback."""


# ------------------------------------------------------------------------------ configuration
class _Parser(train_utils.ExperimentParser):
    """The stock parser, except that `--tpu` only overrides when it is given, and that the
    recipe follows the backbone and the schedule follows the batch (official_ext/resolve.py)."""

    def parse(self):
        params = super().parse()
        validate.validate(params)  # Before the recipe resolution reads (and exports) it.
        flags_obj = self._flags_obj
        tpu = ([{'runtime': {'tpu': flags_obj.tpu, 'distribution_strategy': 'tpu'}}]
               if flags_obj.tpu else [])
        keys = resolve.user_keys(flags_obj.config_file, flags_obj.params_override, tpu)
        return resolve.resolve(params, self._apply_layers, keys)

    def _apply_layers(self, params):
        """The user's layers (config files, --tpu, data service, override) on `params`."""
        params = self.parse_config_file(params)
        params = self.parse_runtime(params)
        params = self.parse_data_service(params)
        return self.parse_params_override(params)

    def parse_runtime(self, params):
        tpu = self._flags_obj.tpu
        if tpu:
            params.override({'runtime': {'tpu': tpu, 'distribution_strategy': 'tpu'}})
        return params

    def parse_params_override(self, params):
        """Applies --params_override; a parse error says what was wrong and the accepted forms."""
        return validate.override(params, self._flags_obj.params_override)


def parse_params(flags_obj):
    """Experiment defaults <- each --config_file in order <- --params_override, validated.

    Every mistake found here (unknown key or one-of type, TPGU order that is not an integer
    >= 0, unparsable override) is a ConfigError: one line, exit 2, before anything is built.
    """
    if flags_obj.mode not in MODES:
        raise ConfigError(f'--mode={flags_obj.mode!r} is not one of {", ".join(MODES)}.')
    try:
        params = _Parser(flags_obj).parse()
        validate.validate(params)
    except validate.ConfigValidationError as e:
        raise ConfigError(str(e)) from e
    except KeyError as e:
        raise ConfigError(f'{e}. Check the key names in --config_file / --params_override '
                          'against the experiment (see configs/ for examples).') from e
    except LookupError as e:  # exp_factory: an experiment name nobody registered
        raise ConfigError(f'--experiment={flags_obj.experiment!r} is not registered; this '
                          f'project\'s experiments: {", ".join(OUR_EXPERIMENTS)}.') from e
    return params


# ------------------------------------------------------------------------------ strategies
NO_TPU_HELP = ('To run on GPUs set `runtime.distribution_strategy: mirrored` (every visible GPU '
               'is used); on a CPU set `runtime.distribution_strategy: one_device` and '
               '`runtime.mixed_precision_dtype: float32`, and leave out --tpu.')


def _check_tpu_reachable(address: str) -> None:
    """Fails fast where a named Cloud TPU cannot be resolved (no GCE metadata server)."""
    if address in ('', 'local') or address.startswith('grpc://'):
        return
    try:
        socket.create_connection(('metadata.google.internal', 80), timeout=2).close()
    except OSError as e:
        raise ConfigError(f'--tpu={address}: this machine is not a Google Cloud VM (no metadata '
                          f'server), so the TPU name cannot be resolved. {NO_TPU_HELP}') from e


def build_strategy(runtime) -> tf.distribute.Strategy:
    """The distribution strategy named by `runtime`, with GPUs/CPUs detected automatically."""
    name = (runtime.distribution_strategy or 'one_device').lower()
    if name == 'tpu':
        address = runtime.tpu or 'local'
        _check_tpu_reachable(address)
        try:
            # 'local' is the TPU VM's own TPU (the seed README's --tpu=local).
            return distribute_utils.get_distribution_strategy('tpu', tpu_address=address)
        except (tf.errors.NotFoundError, tf.errors.UnavailableError, ValueError,
                RuntimeError) as e:
            raise ConfigError(f'a TPU was requested (--tpu={address!s} / '
                              f'runtime.distribution_strategy: tpu) but none was found: '
                              f'{str(e).splitlines()[0][:200]}. {NO_TPU_HELP}') from e
    if name == 'mirrored':
        gpus = tf.config.list_logical_devices('GPU')
        if runtime.num_gpus or gpus:
            return distribute_utils.get_distribution_strategy(
                'mirrored', num_gpus=runtime.num_gpus or len(gpus),
                all_reduce_alg=runtime.all_reduce_alg, num_packs=runtime.num_packs)
        cpus = [d.name for d in tf.config.list_logical_devices('CPU')]
        return tf.distribute.MirroredStrategy(devices=cpus)
    if name == 'one_device':
        gpus = tf.config.list_logical_devices('GPU')
        return distribute_utils.get_distribution_strategy(
            'one_device', num_gpus=1 if gpus else 0)
    if name == 'multi_worker_mirrored':
        if 'TF_CONFIG' not in os.environ:
            logging.warning('multi_worker_mirrored without TF_CONFIG runs as a single worker.')
        return distribute_utils.get_distribution_strategy(
            'multi_worker_mirrored', all_reduce_alg=runtime.all_reduce_alg)
    if name == 'off':
        return tf.distribute.get_strategy()
    raise ConfigError(f'runtime.distribution_strategy={name!r} is not supported; use tpu, '
                      'mirrored, one_device, multi_worker_mirrored or off.')


def detected_num_gpus(runtime) -> int:
    """GPUs the mirrored/one_device strategy will use (Model Garden's XLA switch reads it)."""
    name = (runtime.distribution_strategy or '').lower()
    gpus = len(tf.config.list_logical_devices('GPU'))
    if name == 'mirrored':
        return runtime.num_gpus or gpus
    if name == 'one_device':
        return min(gpus, 1)
    return runtime.num_gpus


# ------------------------------------------------------------------------------ helpers
def seed_everything(seed: Optional[int], deterministic: bool = False) -> None:
    """Seeds Python's, NumPy's and TensorFlow's global generators."""
    if seed is None:
        return
    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)
    tf_keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def log_to_dir(log_dir: Optional[str]) -> None:
    """Sends absl's log to a file in log_dir (and keeps it on stderr)."""
    if not log_dir:
        return
    tf.io.gfile.makedirs(log_dir)
    FLAGS.alsologtostderr = True
    logging.get_absl_handler().use_absl_log_file('run', log_dir)


def model_summary(model: tf_keras.Model, params, experiment: str = '') -> dict:
    """Trainable/total parameters and FLOPs per image (profiler count / 2, i.e. MACs)."""
    trainable = int(sum(np.prod(v.shape) for v in model.trainable_variables))
    total = int(sum(np.prod(v.shape) for v in model.variables))
    flops = quiet_logs.count_flops(model)
    backbone = params.task.model.backbone
    return {
        'experiment': experiment,
        'backbone': backbone.type,
        'backbone_config': backbone.get().as_dict() if backbone.get() is not None else None,
        'input_size': list(params.task.model.input_size),
        'num_classes': params.task.model.num_classes,
        'trainable_params': trainable,
        'total_params': total,
        'gflops': None if flops is None else flops / 2 / 1e9,
    }


def write_model_summary(summary: dict, model_dir: str) -> None:
    flops = 'unknown' if summary['gflops'] is None else f"{summary['gflops']:.4g}"
    text = (f"trainable_params: {summary['trainable_params']}  "
            f"({summary['trainable_params'] / 1e6:.2f} M)\n"
            f"total_params: {summary['total_params']}\n"
            f"flops_G: {flops}  (TensorFlow profiler float ops / 2 at batch 1, as the "
            f"seed's table)\n"
            f"experiment: {summary.get('experiment', '')}\n"
            f"backbone: {summary['backbone']}\ninput_size: {summary['input_size']}\n"
            f"num_classes: {summary['num_classes']}\n"
            f"backbone_config: {json.dumps(summary['backbone_config'], default=str)}\n")
    tf.io.gfile.makedirs(model_dir)
    records.write_text(os.path.join(model_dir, 'model_summary.txt'), text)


def check_input_paths(params, mode: str) -> None:
    """Fails before the model is built when an input glob matches no file.

    Model Garden only notices an empty glob when the first batch is read, after the TPU has been
    initialised and the model built. Runs after `_ensure_demo_data`, so the demo's folder is
    checked like any other.
    """
    splits = [('train_data', 'train' in mode), ('validation_data', 'eval' in mode)]
    for split, used in splits:
        data = getattr(params.task, split)
        if not used or data.tfds_name:
            continue
        patterns = data_check.patterns(data.input_path)
        if not patterns:
            raise ConfigError(f'task.{split}.input_path is empty: set it to your TFRecord glob '
                              '(e.g. gs://bucket/imagenet/train-*) or set tfds_name.')
        for pattern in patterns:
            if not tf.io.gfile.glob(pattern):
                raise ConfigError(
                    f'task.{split}.input_path {pattern!r} matches no file. Point it at the '
                    'shards written by imagenet_to_gcs.py (e.g. <dir>/train-* and '
                    '<dir>/validation-*) in the YAML or with --params_override.')


def check_data(params, mode: str, full: bool) -> None:
    """Reads the data before any step runs (data/check.py): a bad shard fails in seconds."""
    try:
        data_check.check_inputs(params, mode, full=full)
        for warning in data_check.check_num_classes(params):
            logging.warning('%s', warning)
            print(f'run.py: warning: {warning}', file=sys.stderr, flush=True)
    except data_check.DataError as e:
        raise ConfigError(str(e)) from e


def _ensure_demo_data(params) -> None:
    """Writes the digits demo set for a demo config's missing folder (see data/digits.py)."""
    from data import digits
    for data in (params.task.train_data, params.task.validation_data):
        path = data.input_path
        if isinstance(path, str) and not data.tfds_name and digits.ensure(path):
            logging.info('Wrote the digits demo set for %s', path)


def resolve_seed(flags_obj, params, model_dir: str) -> int:
    """--seed, else the seed recorded in model_dir (a resume must reuse it), else a new one.

    The training input and the model's random draws are functions of this seed and the step
    (official_ext/stream.py), so a resumed run must use the seed of the run it continues.
    """
    if flags_obj.seed is not None:
        return int(flags_obj.seed)
    if params.task.train_data.seed is not None:
        return int(params.task.train_data.seed)
    recorded = model_dir_lib.recorded_seed(model_dir)
    if recorded is not None:
        return recorded
    return random.SystemRandom().randrange(2 ** 31)


# ------------------------------------------------------------------------------ main
def run(flags_obj) -> dict:
    """Runs one experiment from parsed flags; returns the final evaluation logs (or {})."""
    log_to_dir(getattr(flags_obj, 'log_dir', None))
    quiet_logs.python_filters()
    quiet_logs.quiet_model_garden_flops()
    model_dir = flags_obj.model_dir
    if not model_dir:
        raise ConfigError('--model_dir is required (checkpoints, summaries, params.yaml).')

    params = parse_params(flags_obj)
    logging.info('Recipe: %s', resolve.describe(params))
    seed = resolve_seed(flags_obj, params, model_dir)
    for split in ('train_data', 'validation_data'):
        if getattr(params.task, split).seed is None:
            params.override({'task': {split: {'seed': seed}}})
    runtime = params.runtime
    if runtime.mixed_precision_dtype == 'float16' and params.trainer.optimizer_config.ema:
        raise ConfigError('mixed_float16 with EMA crashes in Model Garden 2.20 (optimizer '
                          'wrapper TypeError); use runtime.mixed_precision_dtype: bfloat16 or '
                          'float32, or set trainer.optimizer_config.ema: null.')
    # The strategy comes first: multi-worker collectives must be configured before TensorFlow
    # initialises its runtime (listing devices or seeding would do that).
    strategy = build_strategy(runtime)
    chief = strategy.extended.should_checkpoint
    if chief:
        _ensure_demo_data(params)
    check_input_paths(params, flags_obj.mode)
    check_data(params, flags_obj.mode, flags_obj.check_data)
    seed_everything(flags_obj.seed, flags_obj.deterministic)
    params.override({'runtime': {'num_gpus': detected_num_gpus(runtime)}})
    params.validate()
    params.lock()
    try:
        model_dir_lib.check_compatible(params, model_dir)
    except model_dir_lib.ModelDirError as e:
        raise ConfigError(str(e)) from e
    logging.info('Strategy %s with %d replica(s).', type(strategy).__name__,
                 strategy.num_replicas_in_sync)

    if chief:
        model_dir_lib.remove_partial_checkpoints(model_dir)
        if 'train' in flags_obj.mode:
            model_dir_lib.record_config(params, model_dir)
    if params.runtime.mixed_precision_dtype:
        performance.set_mixed_precision_policy(params.runtime.mixed_precision_dtype)

    mode = flags_obj.mode
    with strategy.scope():
        task = task_factory.get_task(params.task, logging_dir=model_dir)
        model = task.build_model()
        optimizer = train_utils.create_optimizer(task, params)
        trainer = ActTrainer(params, task, model=model, optimizer=optimizer,
                             train='train' in mode, evaluate='eval' in mode,
                             model_dir=model_dir)

    if 'train' in mode and not hasattr(task, 'start_step'):
        logging.warning('--experiment=%s uses Model Garden\'s stock task: a resumed run replays '
                        'its input from the first batch. The recipe experiments (%s) resume '
                        'exactly.', flags_obj.experiment, ', '.join(OUR_EXPERIMENTS[:-1]))
    summary = model_summary(model, params, flags_obj.experiment)
    logging.info('Model: %d trainable parameters (%.2f M), %s GFLOPs per image.',
                 summary['trainable_params'], summary['trainable_params'] / 1e6,
                 'unknown' if summary['gflops'] is None else f"{summary['gflops']:.4g}")
    if chief:
        write_model_summary(summary, model_dir)

    try:
        train_lib.run_experiment(
            distribution_strategy=strategy, task=task, mode=mode, params=params,
            model_dir=model_dir, trainer=trainer, controller_cls=ActController)
    except tf.errors.DataLossError as e:
        # TensorFlow's message ("corrupted record at 7762") names no file: find it.
        located = data_check.locate_corrupt(params, mode)
        raise ConfigError(located or f'a data file is corrupt ({str(e).splitlines()[0]}); '
                          'run with --check_data to find it.') from e
    logs = trainer.last_eval_logs
    if logs:
        shown = {k: round(float(v), 4) for k, v in logs.items()
                 if np.ndim(v) == 0}
        print('Final evaluation at step %d: %s' % (int(trainer.global_step.numpy()),
                                                   json.dumps(shown)), flush=True)
    return logs


def main(argv) -> None:
    del argv
    try:
        run(FLAGS)
    except ConfigError as e:
        logging.error('%s', e)
        print(f'run.py: error: {e}', file=sys.stderr, flush=True)
        sys.exit(2)
    except NonFiniteError as e:
        logging.error('%s', e)
        print(f'run.py: error: {e}', file=sys.stderr, flush=True)
        sys.exit(1)


if __name__ == '__main__':
    define_flags()
    flags.mark_flags_as_required(['experiment', 'mode', 'model_dir'])
    app.run(main)
