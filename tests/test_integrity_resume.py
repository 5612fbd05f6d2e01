"""Fault injection: runs killed with SIGKILL and rerun end with the uninterrupted run's weights.

One tiny ConvNeXt + TPGU run with everything random switched on (random crop and flip,
RandAugment with magnitude noise, stochastic depth, head dropout, EMA) is trained uninterrupted
through run.py, then again with kills: mid-interval, right after a checkpoint, and with the
leftovers of a checkpoint write that a kill interrupted. Every rerun must end with bit-identical
weights (every variable of the final checkpoint, EMA slots included), the same final metrics,
and evaluations and checkpoints on the same steps. Runs are separate processes (run.py as a
user runs it) with --seed and --deterministic on the CPU.
"""
import glob
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests import train_testlib as lib

pytestmark = pytest.mark.slow

STEPS, CKPT, EVAL = 12, 4, 6


def override(data, **trainer):
    train, val = data
    settings = {'train_steps': STEPS, 'steps_per_loop': 3, 'summary_interval': 3,
                'checkpoint_interval': CKPT, 'validation_interval': EVAL, 'validation_steps': 2,
                'optimizer_config': {'ema': {'average_decay': 0.9}}}
    settings.update(trainer)
    return json.dumps({
        'runtime': {'distribution_strategy': 'one_device', 'mixed_precision_dtype': 'float32'},
        'task': {
            'model': {'num_classes': 4, 'input_size': [32, 32, 3], 'dropout_rate': 0.2,
                      'backbone': {'type': 'convnext', 'convnext': {
                          'dims': [8, 16, 32, 64], 'depths': [1, 1, 1, 1],
                          'drop_path_rate': 0.3,
                          'activation': {'type': 'tpgu', 'tpgu': {'orders': [2, 2, 2, 2]}}}}},
            'losses': {'one_hot': True, 'soft_labels': False},
            'train_data': {'input_path': train, 'global_batch_size': 4, 'dtype': 'float32',
                           'shuffle_buffer_size': 8, 'mixup_and_cutmix': None,
                           'random_erasing': None, 'aug_rand_hflip': True,
                           'crop_area_range': [0.5, 1.0],
                           'aug_type': {'type': 'randaug', 'randaug': {
                               'magnitude': 9, 'magnitude_std': 0.5}}},
            'validation_data': {'input_path': val, 'global_batch_size': 8, 'dtype': 'float32',
                                'drop_remainder': False}},
        'trainer': settings,
    })


def command(model_dir, data, **trainer):
    return [sys.executable, os.path.join(lib.ROOT, 'run.py'), '--experiment=convnext_imagenet',
            '--mode=train_and_eval', '--seed=3', '--deterministic', f'--model_dir={model_dir}',
            f'--params_override={override(data, **trainer)}']


ENV = dict(os.environ, CUDA_VISIBLE_DEVICES='', TF_CPP_MIN_LOG_LEVEL='2')


def run_to_end(model_dir, data):
    result = subprocess.run(command(model_dir, data), cwd=lib.ROOT, env=ENV,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def run_and_kill(model_dir, data, trigger: str):
    """Starts run.py and SIGKILLs it as soon as a log line contains `trigger`."""
    proc = subprocess.Popen(command(model_dir, data), cwd=lib.ROOT, env=ENV, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = False
    for line in proc.stderr:
        if trigger in line:
            proc.send_signal(signal.SIGKILL)
            seen = True
            break
    proc.wait(timeout=600)
    assert seen, f'the run ended before logging {trigger!r}'
    assert proc.returncode == -signal.SIGKILL


def final_weights(model_dir):
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(model_dir))
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
            if k != '_CHECKPOINTABLE_OBJECT_GRAPH'}


def checkpoint_steps(model_dir):
    return sorted(int(p.split('-')[-1].split('.')[0])
                  for p in glob.glob(os.path.join(model_dir, 'ckpt-*.index')))


def evaluated_steps(model_dir):
    steps = set()
    for path in glob.glob(os.path.join(model_dir, 'validation', 'events*')):
        for event in tf.compat.v1.train.summary_iterator(path):
            if any(v.tag == 'accuracy' for v in event.summary.value):
                steps.add(event.step)
    return sorted(steps)


def final_metrics(result):
    line = [l for l in result.stdout.splitlines() if l.startswith('Final evaluation')][-1]
    return json.loads(line.split(': ', 1)[1])


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return lib.write_records(str(tmp_path_factory.mktemp('records')), 48, size=40)


@pytest.fixture(scope='module')
def reference(tmp_path_factory, data):
    model_dir = str(tmp_path_factory.mktemp('uninterrupted'))
    result = run_to_end(model_dir, data)
    return model_dir, final_weights(model_dir), final_metrics(result)


def assert_same_run(model_dir, result, reference):
    ref_dir, ref_weights, ref_metrics = reference
    weights = final_weights(model_dir)
    assert sorted(weights) == sorted(ref_weights)
    differing = [k for k in ref_weights if not np.array_equal(weights[k], ref_weights[k])]
    assert not differing, f'{len(differing)} of {len(weights)} variables differ: {differing[:5]}'
    assert final_metrics(result) == ref_metrics
    assert checkpoint_steps(model_dir) == checkpoint_steps(ref_dir) == [4, 8, 12]
    assert evaluated_steps(model_dir) == evaluated_steps(ref_dir) == [6, 12]


def test_reference_run_is_sane(reference):
    _, weights, metrics = reference
    assert all(np.all(np.isfinite(v)) for v in weights.values() if v.dtype.kind == 'f')
    assert 0.0 <= metrics['accuracy'] <= 1.0 and 'ema_accuracy' in metrics


# Loops end at steps 3, 4 (checkpoint), 6 (evaluation), 8 (checkpoint), 11, 12 (both).
def test_kill_mid_interval_resumes_exactly(tmp_path, data, reference):
    model_dir = str(tmp_path / 'run')
    run_and_kill(model_dir, data, 'step:     11 |')
    assert checkpoint_steps(model_dir) == [4, 8]
    assert_same_run(model_dir, run_to_end(model_dir, data), reference)


def test_kill_after_checkpoint_before_its_evaluation_reruns_that_evaluation(
        tmp_path, data, reference):
    model_dir = str(tmp_path / 'run')
    run_and_kill(model_dir, data, 'saved checkpoint to ' + os.path.join(model_dir, 'ckpt-12'))
    assert checkpoint_steps(model_dir) == [4, 8, 12]
    assert evaluated_steps(model_dir) == [6]
    assert_same_run(model_dir, run_to_end(model_dir, data), reference)


def test_interrupted_checkpoint_write_leaves_nothing_and_resumes_exactly(tmp_path, data,
                                                                          reference):
    model_dir = str(tmp_path / 'run')
    run_and_kill(model_dir, data, 'step:      3 |')  # Before the first checkpoint.
    assert checkpoint_steps(model_dir) == []
    # What a kill inside the write of checkpoint 4 (and of a best checkpoint) leaves behind.
    for partial in (os.path.join(model_dir, 'ckpt-4_temp'),
                    os.path.join(model_dir, 'best_ckpt', 'best_ckpt-6_temp')):
        os.makedirs(partial, exist_ok=True)
        with open(os.path.join(partial, 'part-00000-of-00001.data-00000-of-00001'), 'wb') as f:
            f.write(os.urandom(1000))
    result = run_to_end(model_dir, data)
    assert not glob.glob(os.path.join(model_dir, '**', '*_temp'), recursive=True)
    assert_same_run(model_dir, result, reference)
