r"""Benchmark: a full training step of each network with each activation, as ratios to exact GELU.

    python bench/train_step.py [--networks=convnext_tiny,swin_tiny,hornet_tiny,resnet50]
        [--activations=tpgu_7,tpgu_3,acon_c,...] [--batch=8] [--dtype=float32|bfloat16]
        [--jit] [--repeats=5] [--skip_memory] [--skip_time]

One step = forward, backward and an SGD update of the whole classification model (224×224
input, 1000 classes, random images and labels), as `tf.function` (or one XLA computation with
`--jit`). For every (network, activation) the same network with exact GELU at the same sites
is the reference:

* **time**: both models live in one process and their steps alternate (GELU, activation, GELU,
  ...) after a warm-up step each, so load changes hit both alike; the ratio is the median of
  the per-pair ratios (`--repeats` pairs).
* **memory**: each configuration runs in a fresh process (two steps, the first traces) and reports
  its peak resident set, `VmHWM` from /proc/self/status (ru_maxrss would carry over the
  parent's size through fork+exec). Two ratios are printed: the whole process' peak (as the
  issue that set the targets measured it) and the peak's growth over the resident set after
  TensorFlow's import (the model's own memory, the stricter of the two). On a GPU the allocator
  peak (`get_memory_info`) replaces both.

`ACT_FUSED=0` runs every activation through plain autodiff of its formula (the code before the
hand-written gradients) for a before/after comparison; `ACT_FUSED_XLA=0` keeps the hand-written
gradients but does not compile them.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

NETWORKS = {
    'convnext_tiny': ('convnext', {'model_id': 'tiny'}),
    'swin_tiny': ('swin', {'model_id': 'tiny'}),
    'hornet_tiny': ('hornet', {'model_id': 'tiny'}),
    'resnet50': ('act_resnet', {'model_id': 50}),
}

# label -> activation spec; exact GELU is the reference of every ratio.
ACTIVATIONS = {
    'gelu': 'gelu',
    'tpgu_7': {'type': 'tpgu', 'tpgu': {'orders': [7, 7, 7, 7]}},
    'tpgu_3': {'type': 'tpgu', 'tpgu': {'orders': [3, 3, 3, 3]}},
    'acon_a': 'acon_a',
    'acon_b': 'acon_b',
    'acon_c': 'acon_c',
    'meta_acon': 'meta_acon',
    'golu': 'golu',
    'golu_learnable': {'type': 'golu', 'golu': {'learnable': True}},
    'coslu': 'coslu',
    'sinlu': 'sinlu',
    'delu': 'delu',
    'helu': 'helu',
    'lincomb': 'lincomb',
    'normlincomb': 'normlincomb',
    'relun': 'relun',
    'scaledsoftsign': 'scaledsoftsign',
    'shilu': 'shilu',
}


def _vm_kib(field: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise RuntimeError(f'{field} not in /proc/self/status')


def build_step(network: str, activation: str, batch: int, dtype: str, jit: bool):
    """(step function, its inputs) for one configuration, built in this process."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    import tf_keras  # pylint: disable=g-import-not-at-top
    from official.core import exp_factory  # pylint: disable=g-import-not-at-top
    from official.core import task_factory  # pylint: disable=g-import-not-at-top
    import official_ext.registry_imports  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import

    family, settings = NETWORKS[network]
    tf_keras.mixed_precision.set_global_policy(
        'mixed_bfloat16' if dtype == 'bfloat16' else 'float32')
    cfg = exp_factory.get_exp_config('act_image_classification')
    spec = ACTIVATIONS[activation]
    spec = {'type': spec} if isinstance(spec, str) else spec
    backbone = {'type': family, family: dict(settings, activation=spec)}
    cfg.override({'task': {'model': {'num_classes': 1000, 'input_size': [224, 224, 3],
                                     'backbone': backbone}}}, is_strict=True)
    model = task_factory.get_task(cfg.task).build_model()
    optimizer = tf_keras.optimizers.SGD(learning_rate=1e-3, momentum=0.9)
    images = tf.random.stateless_uniform([batch, 224, 224, 3], seed=[1, 2])
    labels = tf.random.stateless_uniform([batch], seed=[3, 4], maxval=1000, dtype=tf.int32)

    @tf.function(jit_compile=jit)
    def step(images, labels):
        with tf.GradientTape() as tape:
            logits = tf.cast(model(images, training=True), tf.float32)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return step, (images, labels)


def _run_once(step, inputs) -> float:
    start = time.perf_counter()
    step(*inputs).numpy()
    return time.perf_counter() - start


def time_pairs(network: str, activations: List[str], batch: int, dtype: str, jit: bool,
               repeats: int) -> Dict[str, dict]:
    """Interleaved GELU / activation steps in this process; median step times and ratios."""
    ref_step, ref_in = build_step(network, 'gelu', batch, dtype, jit)
    _run_once(ref_step, ref_in)
    out = {}
    for act in activations:
        step, inputs = build_step(network, act, batch, dtype, jit)
        _run_once(step, inputs)  # trace, compile, warm up
        _run_once(ref_step, ref_in)
        ref_t, act_t, ratios = [], [], []
        for _ in range(repeats):
            a = _run_once(ref_step, ref_in)
            b = _run_once(step, inputs)
            ref_t.append(a)
            act_t.append(b)
            ratios.append(b / a)
        out[act] = {'gelu_s': statistics.median(ref_t), 'act_s': statistics.median(act_t),
                    'time_ratio': statistics.median(ratios)}
        print(f'  {network} {act}: {out[act]["act_s"]:.3f} s vs GELU {out[act]["gelu_s"]:.3f} s '
              f'= {out[act]["time_ratio"]:.2f}x', file=sys.stderr, flush=True)
        del step
    return out


def memory_child(network: str, activation: str, batch: int, dtype: str, jit: bool) -> dict:
    """Runs in a fresh process: two steps (the first traces); its own peak memory."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    gpu = bool(tf.config.list_physical_devices('GPU'))
    base_kib = _vm_kib('VmRSS')
    if gpu:
        tf.config.experimental.reset_memory_stats('GPU:0')
    step, inputs = build_step(network, activation, batch, dtype, jit)
    for _ in range(2):  # trace + first step, then a second step that reuses every buffer
        step(*inputs).numpy()
    if gpu:
        peak = tf.config.experimental.get_memory_info('GPU:0')['peak']
        return {'peak_bytes': float(peak), 'growth_bytes': float(peak), 'method': 'GPU allocator'}
    hwm = _vm_kib('VmHWM')
    return {'peak_bytes': hwm * 1024.0, 'growth_bytes': (hwm - base_kib) * 1024.0,
            'method': 'VmHWM'}


def memory(network: str, activation: str, args) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), '--child', f'{network}:{activation}',
           f'--batch={args.batch}', f'--dtype={args.dtype}'] + (['--jit'] if args.jit else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=False,
                         env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'))
    if out.returncode != 0:
        raise RuntimeError(f'{network} {activation} failed:\n{out.stderr[-3000:]}')
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(f'  {network} {activation}: peak {result["peak_bytes"] / 2**20:.0f} MiB',
          file=sys.stderr, flush=True)
    return result


def table(rows: List[Tuple[str, str, dict]], ref_mem: Dict[str, dict]) -> str:
    lines = ['| network | activation | step s | GELU step s | × GELU time | peak MiB | '
             '× GELU peak | × GELU growth |', '|---|---|---:|---:|---:|---:|---:|---:|']
    for network, act, r in rows:
        t = (f'{r["act_s"]:.3f} | {r["gelu_s"]:.3f} | **{r["time_ratio"]:.2f}**'
             if 'time_ratio' in r else '— | — | —')
        if 'peak_bytes' in r:
            ref = ref_mem[network]
            m = (f'{r["peak_bytes"] / 2**20:.0f} | **{r["peak_bytes"] / ref["peak_bytes"]:.2f}** | '
                 f'{r["growth_bytes"] / ref["growth_bytes"]:.2f}')
        else:
            m = '— | — | —'
        lines.append(f'| {network} | {act} | {t} | {m} |')
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--networks', default=','.join(NETWORKS))
    parser.add_argument('--activations', default=','.join(a for a in ACTIVATIONS if a != 'gelu'))
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--dtype', default='float32', choices=['float32', 'bfloat16'])
    parser.add_argument('--jit', action='store_true', help='compile the whole step with XLA')
    parser.add_argument('--repeats', type=int, default=5, help='GELU/activation step pairs')
    parser.add_argument('--skip_memory', action='store_true')
    parser.add_argument('--skip_time', action='store_true')
    parser.add_argument('--json', default='', help='also write the raw results here')
    parser.add_argument('--child', default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        network, activation = args.child.split(':')
        print(json.dumps(memory_child(network, activation, args.batch, args.dtype, args.jit)))
        return
    networks = [n for n in args.networks.split(',') if n]
    activations = [a for a in args.activations.split(',') if a]
    for name in networks:
        if name not in NETWORKS:
            parser.error(f'unknown network {name!r}; known: {", ".join(NETWORKS)}')
    for name in activations:
        if name not in ACTIVATIONS:
            parser.error(f'unknown activation {name!r}; known: {", ".join(ACTIVATIONS)}')
    started = time.time()
    load = os.getloadavg()[0]
    rows, ref_mem = [], {}
    for network in networks:
        results = {a: {} for a in activations}
        if not args.skip_time:
            for act, r in time_pairs(network, activations, args.batch, args.dtype, args.jit,
                                     args.repeats).items():
                results[act].update(r)
        if not args.skip_memory:
            ref_mem[network] = memory(network, 'gelu', args)
            for act in activations:
                results[act].update(memory(network, act, args))
        rows += [(network, act, results[act]) for act in activations]
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    device = ('GPU ' + tf.config.experimental.get_device_details(
        tf.config.list_physical_devices('GPU')[0]).get('device_name', '')
              if tf.config.list_physical_devices('GPU') else f'CPU ({os.cpu_count()} cores)')
    mode = ('fused' if os.environ.get('ACT_FUSED', '1') != '0' else 'autodiff (ACT_FUSED=0)')
    if os.environ.get('ACT_FUSED_XLA', '1') == '0':
        mode += ', not compiled (ACT_FUSED_XLA=0)'
    timing = ('' if args.skip_time else f'median of {args.repeats} interleaved pairs; ')
    print(f'batch {args.batch} {args.dtype}, {"XLA step" if args.jit else "tf.function step"}, '
          f'activations {mode}, {device}, {timing}'
          f'load average {load:.1f} at start, {os.getloadavg()[0]:.1f} at end; '
          f'{time.time() - started:.0f} s')
    print(table(rows, ref_mem))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'rows': rows, 'reference_memory': ref_mem, 'args': vars(args)}, f, indent=1)


if __name__ == '__main__':
    main()
