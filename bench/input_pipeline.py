r"""Benchmark: the exactly resumable training input against Model Garden's reader, and resume cost.

    python bench/input_pipeline.py [--images=768] [--size=320] [--batch=32] [--batches=40]

Both pipelines read the same JPEG TFRecords (random-texture images of --size px, written once to
a temporary folder) with the ConvNeXt recipe (224 px, RandAugment m9 mstd 0.5, mixup/cutmix,
random erasing, bicubic) and are timed alternately in this process (A, B, A, B) so that machine
load affects both alike:

- keyed stream: `official_ext.stream` (the default for TFRecord training input): block shuffle,
  stateless keyed augmentation, parallel deterministic map;
- Model Garden's reader: the same task with the stream switched off (what every run used before
  the Integrity issue; a resume replays it from its first batch).

Reported: images/s of each and their ratio (stream / reader), and the time to the first batch
when a run starts at step 0 and when it resumes in the middle of an epoch (the resume reads,
without decoding, the records already consumed in that epoch, and counts the records first when
no imagenet_to_gcs.py manifest is present).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # noqa: E402

from official.core import exp_factory  # noqa: E402

from data import records  # noqa: E402
from official_ext import registry_imports  # noqa: E402,F401
from official_ext import task as task_lib  # noqa: E402


class ReaderTask(task_lib.ActClassificationTask):
    """The same task with Model Garden's reader instead of the keyed stream."""

    @staticmethod
    def _uses_stream(params) -> bool:
        return False


def write_images(folder: str, n: int, size: int) -> str:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, size=(8, size // 8, size // 8, 3))
    images = np.stack([np.kron(base[i % 8], np.ones((8, 8, 1))) for i in range(n)])
    images = np.clip(images + rng.integers(-20, 20, size=images.shape), 0, 255).astype(np.uint8)
    records.write_image_arrays(images, np.arange(n) % 10, folder, 'train', 8)
    return os.path.join(folder, 'train-*')


def make_task(cls, pattern: str, batch: int):
    cfg = exp_factory.get_exp_config('convnext_imagenet')
    cfg.override({'task': {'model': {'num_classes': 10},
                           'train_data': {'input_path': pattern, 'global_batch_size': batch,
                                          'seed': 0, 'shuffle_buffer_size': 256,
                                          # The parser its recorded figures were measured
                                          # with; bench/timm_pipeline.py compares the two.
                                          'pipeline': 'model_garden'}},
                  'trainer': {'accumulation_steps': 1}}, is_strict=False)
    return cls(cfg.task)


def images_per_second(task, batches: int, batch: int) -> float:
    data = iter(task.build_inputs(task.task_config.train_data))
    next(data)  # Warm-up: tracing, buffers.
    start = time.perf_counter()
    for _ in range(batches):
        next(data)
    return batches * batch / (time.perf_counter() - start)


def first_batch_seconds(task, start_step: int) -> float:
    task.start_step = start_step
    start = time.perf_counter()
    next(iter(task.build_inputs(task.task_config.train_data)))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--images', type=int, default=768)
    parser.add_argument('--size', type=int, default=320)
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--batches', type=int, default=40)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        pattern = write_images(folder, args.images, args.size)
        rates = {'keyed stream': [], "Model Garden's reader": []}
        for _ in range(2):
            rates['keyed stream'].append(images_per_second(
                make_task(task_lib.ActClassificationTask, pattern, args.batch), args.batches,
                args.batch))
            rates["Model Garden's reader"].append(images_per_second(
                make_task(ReaderTask, pattern, args.batch), args.batches, args.batch))
        stream = make_task(task_lib.ActClassificationTask, pattern, args.batch)
        steps_per_epoch = args.images // args.batch
        fresh = first_batch_seconds(stream, 0)
        resumed = first_batch_seconds(stream, 3 * steps_per_epoch + steps_per_epoch // 2)

    print(f'{args.images} JPEGs of {args.size}x{args.size}, ConvNeXt recipe at 224 px, batch '
          f'{args.batch}, {args.batches} batches per measurement, {os.cpu_count()} CPU cores')
    print('| pipeline | images/s (median of 2) |')
    print('|---|---:|')
    medians = {k: statistics.median(v) for k, v in rates.items()}
    for name, value in medians.items():
        print(f'| {name} | {value:.0f} |')
    reader = medians["Model Garden's reader"]
    print(f'ratio keyed stream / reader: {medians["keyed stream"] / reader:.2f}')
    print(f'first batch at step 0: {fresh:.2f} s; resumed mid-epoch (epoch 3 + half): '
          f'{resumed:.2f} s (counts {args.images} records, skips {args.images // 2})')


if __name__ == '__main__':
    main()
