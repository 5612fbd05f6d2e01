"""Shared helpers of the training tests: YAML discovery, reduced builds, tiny records, run.py."""
import glob
import os
import re
import subprocess
import sys
from typing import Dict, List

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_DIR = os.path.join(ROOT, 'configs')

# Small widths/depths that keep every family's constraints (heads divide Swin's dims, gnConv
# orders divide HorNet's, PosMLP's groups divide its dims; windows fit the reduced input).
REDUCED: Dict[str, dict] = {
    'convnext': {'dims': [8, 16, 32, 64], 'depths': [1, 1, 1, 1]},
    'hornet': {'dims': [8, 16, 32, 64], 'depths': [1, 1, 1, 1]},
    'swin': {'dims': [24, 48, 96, 192], 'depths': [1, 1, 1, 1], 'window_size': 2},
    'act_resnet': {'dims': [8, 16, 32, 64], 'depths': [1, 1, 1, 1], 'stem_width': 8},
    'posmlp': {'dims': [16, 32, 64, 128], 'depths': [1, 1, 1, 1], 'window_sizes': [4, 4, 4, 2]},
    'act_vit': {'model_id': 'custom', 'patch_size': 8, 'hidden_size': 16, 'depth': 2,
                'num_heads': 2, 'mlp_dim': 32},
    'tiny_vit': {'dims': [8, 16, 24, 32], 'depths': [1, 1, 1, 1], 'num_heads': [1, 2, 3, 4],
                 'window_sizes': [1, 2, 2, 1]},
    'cifar_resnet': {'dims': [4, 8, 16], 'depths': [1, 1, 1]},
    'cifar_wide_resnet': {'dims': [4, 8, 16], 'depths': [1, 1, 1]},
    'densenet': {'growth_rate': 4, 'depths': [1, 1], 'stem_width': 8},
    'act_efficientnet': {'widths': [8, 8, 8, 8, 8, 16, 16], 'depths': [1] * 7, 'stem_width': 8,
                         'head_width': 16},
    'shufflenet_v2': {'dims': [16, 32, 64], 'depths': [1, 1, 1], 'stem_width': 8,
                      'last_width': 32},
    'tfnet': {'stem_width': 4, 'depths': [1, 1, 1, 1], 'last_width': 32},
}
REDUCED_INPUT = {'swin': 64, 'posmlp': 64}


def yaml_files() -> List[str]:
    return sorted(glob.glob(os.path.join(CONFIG_DIR, '**', '*.yaml'), recursive=True))


def header(path: str) -> Dict[str, str]:
    """The leading comment block's `# Key: value` lines."""
    fields = {}
    with open(path) as f:
        for line in f:
            if not line.startswith('#'):
                break
            m = re.match(r'#\s*([A-Za-z][\w -]*?):\s*(.+)', line.strip())
            if m:
                fields[m.group(1)] = m.group(2)
    return fields


def command_flags(command: str) -> Dict[str, str]:
    return dict(re.findall(r'--(\w+)=(\S+)', command))


def load(path: str, params_override=None):
    """The experiment named in the file's command, overridden by the file, resolved as run.py
    resolves it (recipe of the backbone, schedule from epochs and batch), validated."""
    from official_ext import registry_imports  # noqa: F401
    from official_ext import resolve
    experiment = command_flags(header(path)['Command'])['experiment']
    cfg = resolve.load(experiment, [path], params_override)
    cfg.validate()
    return cfg


def reduced(cfg, activation=None):
    """The config with the backbone shrunk (REDUCED) so that it builds in about a second."""
    family = cfg.task.model.backbone.type
    size = REDUCED_INPUT.get(family, 32)
    backbone = {family: dict(REDUCED[family])}
    if activation is not None:
        backbone[family]['activation'] = activation
    cfg = cfg.replace(task={'model': {'input_size': [size, size, 3], 'backbone': backbone}})
    return cfg


def build(cfg):
    from official.core import task_factory
    return task_factory.get_task(cfg.task).build_model()


def trainable_count(model) -> int:
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))


def write_records(out_dir: str, n: int, size: int = 32, num_classes: int = 4, seed: int = 0):
    """n random-noise images whose mean colour encodes the label (learnable in a few steps)."""
    from data import records
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % num_classes
    base = (labels[:, None, None, None] * (200 // max(num_classes - 1, 1))).astype(np.int32)
    images = np.clip(base + rng.integers(0, 50, size=(n, size, size, 3)), 0, 255).astype(np.uint8)
    records.write_image_arrays(images, labels, out_dir, 'train', 2)
    records.write_image_arrays(images[: n // 2], labels[: n // 2], out_dir, 'validation', 1)
    return os.path.join(out_dir, 'train-*'), os.path.join(out_dir, 'validation-*')


def run_py(args: List[str], timeout: int = 300, env=None) -> subprocess.CompletedProcess:
    """Runs `python run.py ARGS` from the repo root on the CPU."""
    full_env = dict(os.environ, CUDA_VISIBLE_DEVICES='', TF_CPP_MIN_LOG_LEVEL='2')
    full_env.update(env or {})
    return subprocess.run([sys.executable, os.path.join(ROOT, 'run.py')] + args, cwd=ROOT,
                          env=full_env, capture_output=True, text=True, timeout=timeout)


def run_result_script(script: str, timeout: int = 300) -> dict:
    """Runs `script` (which may use ROOT) in a fresh CPU Python and returns its RESULT json.

    A fresh process because logical CPU devices must be configured before TensorFlow starts;
    the script prints one line `RESULT<json>`.
    """
    import json
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='', TF_CPP_MIN_LOG_LEVEL='2')
    proc = subprocess.run([sys.executable, '-c', f'ROOT = {ROOT!r}\n' + script], env=env,
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    lines = [l for l in proc.stdout.splitlines() if l.startswith('RESULT')]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1][len('RESULT'):])
