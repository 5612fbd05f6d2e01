r"""Benchmark: images/s per CPU core of the timm-faithful training input vs Model Garden's stock one.

    python bench/timm_pipeline.py [--images=512] [--size=320] [--batch=32] [--batches=24]
                                  [--rounds=3] [--cores=1,2]

Both are the ConvNeXt recipe's training input (224 px, RandAugment m9 mstd0.5, mixup/cutmix,
random erasing 0.25, bicubic), read through the same keyed stream from the same JPEG TFRecords
(textured images of --size px, written once to a temporary folder); they differ only in
`task.train_data.pipeline` (timm | model_garden). For each core count the tf.data private
thread pool is limited to that many threads (intra-op parallelism 1), and the two pipelines are
timed alternately (A, B, A, B, ...) in one process so that machine load hits both alike; each
core count runs in its own process pinned to that many cores (sched_setaffinity).
Reported per pipeline: median wall-clock images/s, images/s per core (wall / cores), images per
CPU-second of the process (user + system time: the per-core cost, robust to other load on the
machine), and the ratio timm / stock of each; the load average before and after, the CPU model.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# A measuring child pins itself before TensorFlow starts any thread (threads inherit it).
for _arg in sys.argv:
    if '--_child' in sys.argv and _arg.startswith('--cores=') and hasattr(os, 'sched_setaffinity'):
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:int(_arg.split('=')[1])]))

import tensorflow as tf  # noqa: E402

from official.core import exp_factory  # noqa: E402
from official.core import task_factory  # noqa: E402

from bench.input_pipeline import write_images  # noqa: E402  (the same records)
from official_ext import registry_imports  # noqa: E402,F401

PIPELINES = ('timm', 'model_garden')


def dataset(pipeline: str, pattern: str, batch: int, cores: int) -> tf.data.Dataset:
    cfg = exp_factory.get_exp_config('convnext_imagenet')
    cfg.override({'task': {'model': {'num_classes': 10},
                           'train_data': {'input_path': pattern, 'global_batch_size': batch,
                                          'seed': 0, 'shuffle_buffer_size': 256,
                                          'pipeline': pipeline}},
                  'trainer': {'accumulation_steps': 1}}, is_strict=False)
    task = task_factory.get_task(cfg.task)
    data = task.build_inputs(task.task_config.train_data)
    options = tf.data.Options()
    options.threading.private_threadpool_size = cores
    options.threading.max_intra_op_parallelism = 1
    return data.with_options(options)


def images_per_second(iterator, batches: int, batch: int):
    """(wall-clock images/s, images per CPU-second of this process)."""
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(batches):
        next(iterator)
    images = batches * batch
    return images / (time.perf_counter() - start), images / (time.process_time() - cpu)


def cpu_model() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown CPU'


def measure(args, cores: int) -> None:
    """One core count: pinned, both pipelines, A/B interleaved; prints table rows."""
    with tempfile.TemporaryDirectory() as folder:
        pattern = write_images(folder, args.images, args.size)
        iterators = {}
        for name in PIPELINES:
            iterators[name] = iter(dataset(name, pattern, args.batch, cores))
            next(iterators[name])  # warm-up: tracing, buffers
        rates = {name: [] for name in PIPELINES}
        for _ in range(args.rounds):
            for name in PIPELINES:
                rates[name].append(images_per_second(iterators[name], args.batches, args.batch))
    wall = {n: statistics.median(r[0] for r in rates[n]) for n in PIPELINES}
    cpu = {n: statistics.median(r[1] for r in rates[n]) for n in PIPELINES}
    for name in PIPELINES:
        print(f'| {cores} | {name} | {wall[name]:.1f} | {wall[name] / cores:.1f} | '
              f'{cpu[name]:.1f} |')
    print(f'| {cores} | timm / stock | {wall["timm"] / wall["model_garden"]:.2f} | | '
          f'{cpu["timm"] / cpu["model_garden"]:.2f} |', flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--images', type=int, default=512)
    parser.add_argument('--size', type=int, default=320)
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--batches', type=int, default=24)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--cores', default=','.join(sorted({'1', str(os.cpu_count() or 1)})))
    parser.add_argument('--_child', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._child:
        measure(args, int(args.cores))
        return
    load_before = os.getloadavg()
    print(f'CPU: {cpu_model()}, {os.cpu_count()} logical cores; load average before '
          f'{load_before[0]:.2f}; {args.size}px JPEG -> 224px, batch {args.batch}, '
          f'{args.batches} batches x {args.rounds} rounds, A/B interleaved, median')
    print('| cores | pipeline | images/s | images/s per core | images per CPU-second |')
    print('|---:|---|---:|---:|---:|', flush=True)
    for cores in args.cores.split(','):
        child = [sys.executable, os.path.abspath(__file__), '--_child', f'--cores={cores}']
        for key in ('images', 'size', 'batch', 'batches', 'rounds'):
            child.append(f'--{key}={getattr(args, key)}')
        subprocess.run(child, check=True, stderr=subprocess.DEVNULL)
    print(f'load average after {os.getloadavg()[0]:.2f}')


if __name__ == '__main__':
    main()
