"""Imports a PyTorch state dict (timm, torchvision, the authors' code) as a TF checkpoint.

    python -m tools.import_weights --experiment=convnext_imagenet \
        --config_file=configs/tpgu/convnext_tiny.yaml \
        --weights=convnext_tiny.safetensors --output=/data/ckpt/convnext_tiny_timm

The model is the one the flags describe (`--experiment`, `--config_file` (repeatable),
`--params_override`, exactly as run.py reads them), built float32 on the CPU; every variable of
its backbone and head is filled from `--weights` through the rules in tools/porting/rules.py, or
nothing is: every unmapped, missing, mis-shaped or unused tensor is listed in one error (exit 1).
`--keep_init=REGEX` (repeatable) keeps matching variables at their initial values on purpose
(a new activation's parameters, a head for other classes) and lists them.

The checkpoint holds `model` and `backbone` (tf.train.Checkpoint(model=..., backbone=...)), so
Model Garden's stock `task.init_checkpoint` loads it with `init_checkpoint_modules: all` (the
whole model) or `backbone` (to fine-tune with a new head). It is written to a temporary folder
next to `--output` and renamed into place, so a crash never leaves a half-written checkpoint;
`--output` must not exist yet (or be empty).
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from typing import Any, List, Optional, Sequence

from absl import app
from absl import flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

FLAGS = flags.FLAGS
CHECKPOINT_PREFIX = 'ckpt'


class ImportFailed(RuntimeError):
    """A problem the user must fix; printed as one message without a traceback (exit 1)."""


def define_flags() -> None:
    if 'weights' in FLAGS:
        return
    flags.DEFINE_string('experiment', None, 'Registered experiment, e.g. convnext_imagenet.')
    flags.DEFINE_multi_string('config_file', None, 'YAML config file(s), applied in order.')
    flags.DEFINE_string('params_override', None, 'Overrides applied last (YAML/JSON/k=v).')
    flags.DEFINE_string('weights', None, 'PyTorch state dict: .safetensors (or .pth/.bin '
                        'with torch installed).')
    flags.DEFINE_string('output', None, 'Folder to create for the TF checkpoint.')
    flags.DEFINE_multi_string('keep_init', [], 'Regex of our variable names to keep at their '
                              'initial values instead of loading them (listed in the output).')


def load_params(experiment: str, config_files: Sequence[str] = (),
                params_override: Optional[str] = None) -> Any:
    """Experiment defaults <- each config file <- the override, validated as run.py does."""
    from official.core import exp_factory  # pylint: disable=g-import-not-at-top
    from official.modeling import hyperparams  # pylint: disable=g-import-not-at-top
    from official_ext import registry_imports  # noqa: F401 pylint: disable=g-import-not-at-top,unused-import
    from official_ext import validate  # pylint: disable=g-import-not-at-top
    try:
        params = exp_factory.get_exp_config(experiment)
    except (KeyError, LookupError) as e:
        raise ImportFailed(f'--experiment={experiment!r} is not registered.') from e
    try:
        for path in config_files or ():
            params = hyperparams.override_params_dict(params, path, is_strict=True)
        params = validate.override(params, params_override)
        validate.validate(params)
    except (validate.ConfigValidationError, KeyError, ValueError) as e:
        raise ImportFailed(f'config: {e}') from e
    return params


def build_model(params: Any):
    """The task's model in float32 (the import never uses mixed precision)."""
    import tf_keras  # pylint: disable=g-import-not-at-top
    from official.core import task_factory  # pylint: disable=g-import-not-at-top
    tf_keras.mixed_precision.set_global_policy('float32')
    return task_factory.get_task(params.task).build_model()


def write_checkpoint(model, output: str, info: dict) -> str:
    """Writes `model` and `model.backbone` atomically to the new folder `output`.

    Returns:
      The checkpoint path (what `task.init_checkpoint` may name; the folder works too).
    """
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    output = os.path.abspath(output)
    if os.path.exists(output) and (not os.path.isdir(output) or os.listdir(output)):
        raise ImportFailed(f'--output={output} already exists and is not an empty folder; '
                           'choose a new folder or delete it.')
    parent = os.path.dirname(output)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f'.{os.path.basename(output)}.tmp-', dir=parent)
    try:
        ckpt = tf.train.Checkpoint(model=model, backbone=model.backbone)
        path = ckpt.save(os.path.join(tmp, CHECKPOINT_PREFIX))
        with open(os.path.join(tmp, 'import_info.json'), 'w', encoding='utf-8') as f:
            json.dump(info, f, indent=1)
        if os.path.isdir(output):
            os.rmdir(output)  # empty (checked above)
        os.rename(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return os.path.join(output, os.path.basename(path))


def import_weights(experiment: str, weights: str, output: str,
                   config_files: Sequence[str] = (), params_override: Optional[str] = None,
                   keep_init: Sequence[str] = ()) -> str:
    """Builds the configured model, loads `weights` into it and writes the checkpoint.

    Returns:
      The written checkpoint path.

    Raises:
      ImportFailed: config, weights file or mapping problems, with every detail.
    """
    from tools.porting import mapping  # pylint: disable=g-import-not-at-top
    from tools.porting import state_dict  # pylint: disable=g-import-not-at-top
    params = load_params(experiment, config_files, params_override)
    try:
        state = state_dict.read(weights)
    except state_dict.WeightsFileError as e:
        raise ImportFailed(str(e)) from e
    model = build_model(params)
    family = params.task.model.backbone.type
    try:
        report = mapping.load(model, family, state, keep_init)
    except mapping.MappingError as e:
        raise ImportFailed(f'--weights={weights}: {e}') from e
    info = {'weights': os.path.abspath(weights), 'experiment': experiment,
            'config_files': list(config_files or ()), 'params_override': params_override,
            'backbone': family, 'assigned': len(report.assigned),
            'kept_init': report.kept_init, 'skipped_keys': report.skipped_keys}
    path = write_checkpoint(model, output, info)
    print(report.summary())
    print(f'wrote {path}')
    return path


def main(argv: List[str]) -> None:
    del argv
    missing = [f'--{n}' for n in ('experiment', 'weights', 'output') if not FLAGS[n].value]
    if missing:
        sys.exit(f'import_weights: {", ".join(missing)} required.')
    try:
        import_weights(FLAGS.experiment, FLAGS.weights, FLAGS.output, FLAGS.config_file or (),
                       FLAGS.params_override, FLAGS.keep_init)
    except ImportFailed as e:
        sys.exit(f'import_weights: {e}')


if __name__ == '__main__':
    define_flags()
    app.run(main)
