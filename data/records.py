"""tf.Example records and TFRecord shards in tensorflow/tpu's ImageNet format.

Model Garden reads classification records (``classification_input.Decoder``) but has no
writer for them; this module is that writer (``make_example`` lives in ``data.example``, which
the conversion can use without TensorFlow). The feature keys and types are exactly those of
tensorflow/tpu's ``imagenet_to_gcs.py`` so that stock configs and existing pipelines read the
records unchanged.

Every shard is written under a hidden temporary name in the same folder and renamed when
complete: a crash never leaves a partial file under a final name (which a resumed conversion
would otherwise take for complete), and the dot prefix keeps a temporary file out of input
globs such as ``train*``. ``tf.io.gfile`` makes the same code work for local paths and gs://.
"""
from __future__ import annotations

import os
from typing import Callable, Iterable, List, Optional, Sequence

import numpy as np
import tensorflow as tf

from data import images
from data.example import make_example  # Re-exported: the one Example writer (no TF needed).

_TEMP_PREFIX, _TEMP_SUFFIX = '.', '.incomplete'


def temp_path(path: str) -> str:
    """The temporary name a shard is written under before its rename.

    Hidden (dot prefix) so globs like ``train*`` never match it, and deterministic so a
    leftover from a killed run is simply overwritten by the next one.
    """
    head, tail = os.path.split(path)
    return os.path.join(head, _TEMP_PREFIX + tail + _TEMP_SUFFIX)


def final_name(name: str) -> Optional[str]:
    """The file name whose temporary name (``temp_path``) is ``name``, or None if it is none.

    Lets a caller recognise its own leftover temporaries among other files of a folder.
    """
    if len(name) > len(_TEMP_PREFIX + _TEMP_SUFFIX) and name.startswith(
            _TEMP_PREFIX) and name.endswith(_TEMP_SUFFIX):
        return name[len(_TEMP_PREFIX):-len(_TEMP_SUFFIX)]
    return None


def _write_atomically(path: str, write: Callable[[str], None]) -> None:
    """Runs ``write(temporary path)``, then renames the result to ``path``.

    A failure (disk full, Ctrl-C) removes the temporary file, so neither a partial file under
    the final name nor a stray temporary is left behind.
    """
    tf.io.gfile.makedirs(os.path.dirname(path) or '.')
    tmp = temp_path(path)
    try:
        write(tmp)
    except BaseException:
        if tf.io.gfile.exists(tmp):
            tf.io.gfile.remove(tmp)
        raise
    tf.io.gfile.rename(tmp, path, overwrite=True)


def write_shard(path: str, records: Iterable[bytes]) -> None:
    """Writes serialized records to a TFRecord file atomically (temp name + rename).

    Args:
        path: the final shard path, local or gs://.
        records: serialized records, written in the given order.
    """
    def write(tmp: str) -> None:
        with tf.io.TFRecordWriter(tmp) as writer:
            for record in records:
                writer.write(record)
    _write_atomically(path, write)


def write_text(path: str, text: str) -> None:
    """Writes a small text file atomically (temp name + rename), local or gs://."""
    def write(tmp: str) -> None:
        with tf.io.gfile.GFile(tmp, 'w') as f:
            f.write(text)
    _write_atomically(path, write)


def shard_name(split_name: str, index: int, num_shards: int) -> str:
    """``split-%05d-of-%05d``, the shard naming of tensorflow/tpu's converter."""
    return '%s-%05d-of-%05d' % (split_name, index, num_shards)


def shard_bounds(num_items: int, num_shards: int) -> List[int]:
    """Start offsets of ``num_shards`` contiguous, near-equal shards, plus the end.

    Shard ``i`` holds items ``[bounds[i], bounds[i + 1])``; sizes differ by at most one.
    """
    if num_shards < 1:
        raise ValueError(f'num_shards must be >= 1, got {num_shards}.')
    return [i * num_items // num_shards for i in range(num_shards + 1)]


def encode_jpeg(image: np.ndarray) -> bytes:
    """Encodes an (H, W, 3) uint8 array as an RGB JPEG (the converter's re-encoding)."""
    from PIL import Image
    return images.encode_jpeg(Image.fromarray(np.asarray(image, dtype=np.uint8), 'RGB'))


def write_image_arrays(images: np.ndarray, labels: Sequence[int], out_dir: str,
                       split_name: str, num_shards: int,
                       synsets: Optional[Sequence[str]] = None) -> List[str]:
    """Encodes in-memory images as JPEG and writes them as classification shards.

    Used for small datasets that exist as arrays (the demo set, tests); images keep their
    order, shard ``i`` holding a contiguous slice.

    Args:
        images: (N, H, W, 3) uint8 array.
        labels: N integer labels.
        out_dir: output folder (created if missing), local or gs://.
        split_name: shard prefix, e.g. 'train' or 'validation'.
        num_shards: number of ``split-%05d-of-%05d`` files to write.
        synsets: optional class names indexed by label; defaults to the label as text.

    Returns:
        The shard paths, in order.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError('images must be an (N, H, W, 3) uint8 array, got shape '
                         f'{images.shape} dtype {images.dtype}; convert with '
                         'np.asarray(x, np.uint8) and stack grayscale to 3 channels.')
    if len(labels) != len(images):
        raise ValueError(f'{len(images)} images but {len(labels)} labels: pass one label '
                         'per image.')
    tf.io.gfile.makedirs(out_dir)
    bounds = shard_bounds(len(images), num_shards)
    height, width = images.shape[1:3]
    paths = []
    for shard in range(num_shards):
        def records(lo=bounds[shard], hi=bounds[shard + 1]):
            for i in range(lo, hi):
                label = int(labels[i])
                synset = synsets[label] if synsets is not None else str(label)
                yield make_example(encode_jpeg(images[i]), label, synset, height, width,
                                   f'{split_name}_{i:08d}.JPEG')
        path = os.path.join(out_dir, shard_name(split_name, shard, num_shards))
        write_shard(path, records())
        paths.append(path)
    return paths
