r"""Benchmark: forward+backward time and peak memory of every activation layer.

    python bench/activations.py [--shape=8,56,56,384] [--repeats=3] [--jit] [--only=gelu,tpgu]

Each activation runs on a float32 tensor of --shape (default [8, 56, 56, 384], a ConvNeXt-T
stage-1 MLP activation at batch 8): one `tf.function` step computes y = act(x) and the gradients
with respect to x and every weight for a fixed upstream gradient, i.e. what training pays per
call site. Reported: median step time over --repeats (after one warm-up/trace step), peak memory
of the step, and both as ratios to exact GELU measured in the same run.

Peak memory: on a GPU, `tf.config.experimental.get_memory_info('GPU:0')['peak']` after
`reset_memory_stats` (exact allocator peak). On CPU TensorFlow keeps no allocator statistics
(`get_memory_info('CPU:0')` raises), so each activation runs in its own subprocess and the figure
is the growth of the process' peak resident set (`VmHWM` in /proc/self/status; ru_maxrss would
carry the parent's size over fork+exec) from just before the first step — an estimate that
includes allocator slack; the table says which method was used.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# (label, spec) in table order; GELU (exact) first: it is the reference of every ratio.
CASES = [
    ('gelu', 'gelu'),
    ('gelu (tanh)', {'type': 'gelu', 'gelu': {'approximate': True}}),
    ('relu', 'relu'),
    ('swish', 'swish'),
    ('mish', 'mish'),
    ('tpgu order 3', {'type': 'tpgu', 'tpgu': {'order': 3}}),
    ('tpgu order 7', {'type': 'tpgu', 'tpgu': {'order': 7}}),
    ('acon_a', 'acon_a'),
    ('acon_b', 'acon_b'),
    ('acon_c', 'acon_c'),
    ('meta_acon', 'meta_acon'),
    ('golu', 'golu'),
    ('golu (learnable)', {'type': 'golu', 'golu': {'learnable': True}}),
    ('coslu', 'coslu'),
    ('sinlu', 'sinlu'),
    ('delu', 'delu'),
    ('helu', 'helu'),
    ('lincomb', 'lincomb'),
    ('normlincomb', 'normlincomb'),
    ('relun', 'relun'),
    ('scaledsoftsign', 'scaledsoftsign'),
    ('shilu', 'shilu'),
]


def measure(spec, shape: List[int], repeats: int, jit: bool) -> Dict[str, float]:
    """Times one activation in this process; returns seconds and peak bytes."""
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    import layers  # pylint: disable=g-import-not-at-top

    gpu = bool(tf.config.list_physical_devices('GPU'))
    layer = layers.get(spec)
    x = tf.random.normal(shape)
    dy = tf.random.normal(shape)
    layer(x[:1], training=True)  # build the weights outside the timed step

    @tf.function(jit_compile=jit)
    def step(x, dy):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
        grads = tape.gradient(y, [x] + layer.trainable_weights, output_gradients=dy)
        return tf.add_n([tf.reduce_sum(g) for g in grads])

    if gpu:
        tf.config.experimental.reset_memory_stats('GPU:0')
        base = tf.config.experimental.get_memory_info('GPU:0')['current']
    else:
        base = _rss_now()
    step(x, dy).numpy()  # trace + warm-up; its allocations count towards the peak
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step(x, dy).numpy()
        times.append(time.perf_counter() - start)
    if gpu:
        peak = tf.config.experimental.get_memory_info('GPU:0')['peak'] - base
    else:
        peak = _status_kib('VmHWM') * 1024 - base
    return {'seconds': statistics.median(times), 'peak_bytes': float(peak),
            'memory_method': 'GPU allocator peak' if gpu else 'CPU VmHWM growth (estimate)'}


def _status_kib(field: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise RuntimeError(f'{field} not in /proc/self/status')


def _rss_now() -> int:
    return _status_kib('VmRSS') * 1024


def run_all(shape: List[int], repeats: int, jit: bool, only: Optional[List[str]]) -> List[dict]:
    """One subprocess per activation (a fresh peak-RSS counter each), sequentially."""
    rows = []
    for label, spec in CASES:
        if only and label.split(' ')[0] not in only and label != 'gelu':
            continue
        cmd = [sys.executable, os.path.abspath(__file__), '--child', json.dumps(spec),
               '--shape', ','.join(map(str, shape)), '--repeats', str(repeats)]
        if jit:
            cmd.append('--jit')
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise RuntimeError(f'{label} failed:\n{out.stderr[-3000:]}')
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result['label'] = label
        rows.append(result)
        print(f'  measured {label}: {result["seconds"] * 1e3:.1f} ms', file=sys.stderr, flush=True)
    return rows


def table(rows: List[dict]) -> str:
    ref = rows[0]
    lines = ['| activation | fwd+bwd ms | × GELU time | peak MiB | × GELU memory |',
             '|---|---:|---:|---:|---:|']
    for r in rows:
        lines.append(f'| {r["label"]} | {r["seconds"] * 1e3:.1f} | {r["seconds"] / ref["seconds"]:.2f} '
                     f'| {r["peak_bytes"] / 2**20:.0f} | {r["peak_bytes"] / ref["peak_bytes"]:.2f} |')
    return '\n'.join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--shape', default='8,56,56,384')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--jit', action='store_true', help='compile the step with XLA')
    parser.add_argument('--only', default='', help='comma-separated names (GELU always runs)')
    parser.add_argument('--child', default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    shape = [int(s) for s in args.shape.split(',')]
    if args.child is not None:
        print(json.dumps(measure(json.loads(args.child), shape, args.repeats, args.jit)))
        return
    rows = run_all(shape, args.repeats, args.jit, [s for s in args.only.split(',') if s] or None)
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    device = 'GPU' if tf.config.list_physical_devices('GPU') else f'CPU ({os.cpu_count()} cores)'
    print(f'shape {shape} float32, {"XLA" if args.jit else "tf.function"}, median of '
          f'{args.repeats} after warm-up, {device}; memory: {rows[0]["memory_method"]}')
    print(table(rows))


if __name__ == '__main__':
    main()
