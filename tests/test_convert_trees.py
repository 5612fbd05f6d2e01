"""Builders of small image trees for the conversion tests; this module holds no tests itself."""
import hashlib
import io
import os
import subprocess
import sys
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image

CLASSES = ('n0001', 'n0002', 'n0003')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = os.path.join(ROOT, 'imagenet_to_gcs.py')
CLI_ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', CUDA_VISIBLE_DEVICES='')


def cli_command(*args: str, prelude: str = '') -> List[str]:
    """The command line running imagenet_to_gcs.py with ``args``.

    ``prelude`` is Python run first in the same process (e.g. to make a writer fail the way a
    read-only disk would); the CLI then runs as ``__main__``, its error handling unchanged.
    """
    if not prelude:
        return [sys.executable, CLI, *args]
    code = (f'import runpy, sys\nsys.path.insert(0, {ROOT!r})\n{prelude}\n'
            f'sys.argv[0] = {CLI!r}\nrunpy.run_path({CLI!r}, run_name="__main__")\n')
    return [sys.executable, '-c', code, *args]


def run_cli(*args: str, prelude: str = '') -> subprocess.CompletedProcess:
    return subprocess.run(cli_command(*args, prelude=prelude), capture_output=True, text=True,
                          env=CLI_ENV, timeout=240)


def checksums(*folders: str) -> Dict[str, str]:
    """sha256 of every file (hidden ones included) under ``folders``; folders map to 'dir'."""
    sums = {}
    for folder in folders:
        for parent, dirs, files in os.walk(folder):
            sums.update({os.path.join(parent, d): 'dir' for d in dirs})
            for name in files:
                with open(os.path.join(parent, name), 'rb') as f:
                    sums[os.path.join(parent, name)] = hashlib.sha256(f.read()).hexdigest()
    return sums


def image_array(seed: int, size: Tuple[int, int] = (24, 32)) -> np.ndarray:
    """A smooth random RGB image (JPEG-friendly, so decoded pixels stay near the source)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (3, 4, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize(size[::-1], Image.BILINEAR))


def encode(array: np.ndarray, fmt: str = 'JPEG', mode: str = 'RGB') -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).convert(mode).save(buf, fmt, quality=95)
    return buf.getvalue()


def write(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)


def class_tree(root: str, per_class: Dict[str, int], val_per_class: int = 2,
               flat_validation: bool = False, ext: str = '.JPEG') -> Dict[str, Tuple[str, str]]:
    """Writes train/<class>/ and val/<class>/ (or validation/ + synset_labels.txt) JPEGs.

    Returns:
        file base name -> (split, class) for every image written.
    """
    expected, seed = {}, 0
    for cls, count in per_class.items():
        for i in range(count):
            name = f'{cls}_{i}{ext}'
            write(os.path.join(root, 'train', cls, name), encode(image_array(seed)))
            expected[name] = ('train', cls)
            seed += 1
    val: List[Tuple[str, str]] = []
    for cls in per_class:
        for i in range(val_per_class):
            val.append((f'ILSVRC_val_{len(val):04d}{ext}', cls))
    for name, cls in val:
        folder = os.path.join(root, 'validation') if flat_validation else os.path.join(
            root, 'val', cls)
        write(os.path.join(folder, name), encode(image_array(seed)))
        expected[name] = ('validation', cls)
        seed += 1
    if flat_validation:
        with open(os.path.join(root, 'synset_labels.txt'), 'w') as f:
            f.write(''.join(cls + '\n' for _, cls in sorted(val)))
    return expected


def read_records(out_dir: str, split: str) -> List[dict]:
    """Every record of a split's shards, in shard order, parsed with tf.train.Example."""
    import tensorflow as tf
    rows = []
    for path in sorted(tf.io.gfile.glob(os.path.join(out_dir, f'{split}-*'))):
        for raw in tf.data.TFRecordDataset(path).as_numpy_iterator():
            f = tf.train.Example.FromString(raw).features.feature
            rows.append({k: (v.bytes_list.value[0] if v.bytes_list.value
                             else v.int64_list.value[0]) for k, v in f.items()})
    return rows


def shard_bytes(out_dir: str) -> Dict[str, bytes]:
    out = {}
    for name in sorted(os.listdir(out_dir)):
        if name.startswith(('train-', 'validation-')):
            with open(os.path.join(out_dir, name), 'rb') as f:
                out[name] = f.read()
    return out
