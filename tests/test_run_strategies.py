"""run.py's strategy selection, multi-worker training, the TPU error, and tfds input."""
import json
import os
import socket
import subprocess
import sys
import time

import pytest

from tests import train_testlib as lib

import run  # noqa: E402

TINY_RESNET = {'type': 'act_resnet', 'act_resnet': {
    'block': 'basic', 'dims': [8, 16, 32, 64], 'depths': [1, 1, 1, 1], 'stem_width': 8,
    'activation': {'type': 'acon_c'}}}


def tiny_override(train, val, strategy, steps=2, batch=4, ema=True):
    return json.dumps({
        'runtime': {'distribution_strategy': strategy, 'mixed_precision_dtype': 'float32'},
        'task': {'model': {'num_classes': 4, 'input_size': [32, 32, 3],
                           'backbone': TINY_RESNET},
                 'losses': {'one_hot': True, 'soft_labels': False},
                 'train_data': {'input_path': train, 'global_batch_size': batch,
                                'dtype': 'float32'},
                 'validation_data': {'input_path': val, 'global_batch_size': batch,
                                     'dtype': 'float32'}},
        'trainer': {'train_steps': steps, 'steps_per_loop': 1, 'summary_interval': 1,
                    'checkpoint_interval': 1, 'validation_interval': steps,
                    'validation_steps': 1,
                    'optimizer_config': {'ema': {'average_decay': 0.9}} if ema else {}},
    })


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return lib.write_records(str(tmp_path_factory.mktemp('records')), 16, size=32)


class _Runtime:
    def __init__(self, strategy, num_gpus=0):
        self.distribution_strategy = strategy
        self.num_gpus = num_gpus
        self.tpu = ''
        self.all_reduce_alg = None
        self.num_packs = 1


def test_one_device_on_cpu():
    strategy = run.build_strategy(_Runtime('one_device'))
    assert strategy.num_replicas_in_sync == 1
    assert 'CPU' in strategy.extended.worker_devices[0]


def test_unknown_strategy_is_a_clear_error():
    with pytest.raises(run.ConfigError, match='one_device'):
        run.build_strategy(_Runtime('parameter_servers'))


def test_tpu_flag_overrides_and_absent_flag_keeps_yaml_tpu(tmp_path):
    yaml = tmp_path / 'tpu.yaml'
    yaml.write_text('runtime:\n  tpu: my-tpu\n  distribution_strategy: tpu\n')
    from official.core import train_utils

    def parse(tpu):
        opts = train_utils.ParseConfigOptions(experiment='convnext_imagenet',
                                              config_file=[str(yaml)], tpu=tpu)
        opts.mode = 'train'
        return run.parse_params(opts)
    assert parse('').runtime.tpu == 'my-tpu'           # stock parser would blank it
    cfg = parse('local')
    assert cfg.runtime.tpu == 'local' and cfg.runtime.distribution_strategy == 'tpu'


@pytest.mark.slow
def test_missing_tpu_fails_fast_with_help(tmp_path):
    start = time.time()
    proc = lib.run_py(['--experiment=convnext_imagenet', '--mode=train', '--tpu=local',
                       f'--model_dir={tmp_path}'], timeout=180)
    elapsed = time.time() - start
    assert proc.returncode == 2, proc.stderr[-2000:]
    err = proc.stderr
    assert 'TPU' in err and 'none was found' in err
    assert 'one_device' in err and 'mirrored' in err
    assert elapsed < 90, elapsed  # import of TF + Model Garden dominates; no hang or retry


MIRRORED_SCRIPT = r'''
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices('CPU')[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, ROOT)
from absl import flags
import run
run.define_flags()
FLAGS = flags.FLAGS
FLAGS(['run.py', '--experiment=act_resnet_imagenet', '--mode=train_and_eval',
       '--model_dir=' + MODEL_DIR, '--seed=0', '--params_override=' + OVERRIDE])
class R: distribution_strategy='mirrored'; num_gpus=0; tpu=''; all_reduce_alg=None; num_packs=1
strategy = run.build_strategy(R)
logs = run.run(FLAGS)
print('RESULT' + json.dumps({'replicas': strategy.num_replicas_in_sync,
                             'gpus': run.detected_num_gpus(R),
                             'keys': sorted(logs)}))
'''


@pytest.mark.slow
def test_mirrored_uses_every_cpu_replica_and_trains(tmp_path, data):
    override = tiny_override(*data, strategy='mirrored')
    script = (f'ROOT = {lib.ROOT!r}\nMODEL_DIR = {str(tmp_path)!r}\nOVERRIDE = {override!r}\n'
              + MIRRORED_SCRIPT)
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='', TF_CPP_MIN_LOG_LEVEL='2')
    proc = subprocess.run([sys.executable, '-c', script], cwd=lib.ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    lines = [l for l in proc.stdout.splitlines() if l.startswith('RESULT')]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    result = json.loads(lines[-1][len('RESULT'):])
    assert result['replicas'] == 2 and result['gpus'] == 0
    assert {'accuracy', 'ema_accuracy', 'top_5_accuracy', 'ema_top_5_accuracy'} <= set(
        result['keys'])
    assert os.path.exists(os.path.join(tmp_path, 'ckpt-2.index'))


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(('127.0.0.1', 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_two_worker_multi_worker_mirrored_trains_two_steps(tmp_path, data):
    hosts = [f'127.0.0.1:{p}' for p in _free_ports(2)]
    override = tiny_override(*data, strategy='multi_worker_mirrored', ema=False)
    procs = []
    for index in range(2):
        tf_config = json.dumps({'cluster': {'worker': hosts},
                                'task': {'type': 'worker', 'index': index}})
        model_dir = tmp_path / f'worker{index}'
        args = [sys.executable, os.path.join(lib.ROOT, 'run.py'),
                '--experiment=act_resnet_imagenet', '--mode=train', '--seed=0',
                f'--model_dir={model_dir}', f'--params_override={override}']
        env = dict(os.environ, CUDA_VISIBLE_DEVICES='', TF_CPP_MIN_LOG_LEVEL='2',
                   TF_CONFIG=tf_config)
        procs.append(subprocess.Popen(args, cwd=lib.ROOT, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=400))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    chief = tmp_path / 'worker0'
    assert (chief / 'ckpt-2.index').exists()
    assert 'with 2 replica(s)' in outs[0][1]
    assert (chief / 'model_summary.txt').exists()
    assert not (tmp_path / 'worker1' / 'model_summary.txt').exists()


@pytest.mark.slow
def test_tfds_name_with_mock_data(tmp_path):
    import tensorflow_datasets as tfds
    from absl import flags
    run.define_flags()
    override = json.dumps({
        'runtime': {'distribution_strategy': 'one_device', 'mixed_precision_dtype': 'float32'},
        'task': {'model': {'num_classes': 10, 'input_size': [32, 32, 3],
                           'backbone': TINY_RESNET},
                 'losses': {'one_hot': True, 'soft_labels': False},
                 'train_data': {'tfds_name': 'cifar10', 'tfds_split': 'train',
                                'input_path': '', 'global_batch_size': 4, 'dtype': 'float32'},
                 'validation_data': {'tfds_name': 'cifar10', 'tfds_split': 'test',
                                     'input_path': '', 'global_batch_size': 4,
                                     'dtype': 'float32'}},
        'trainer': {'train_steps': 2, 'steps_per_loop': 1, 'summary_interval': 1,
                    'checkpoint_interval': 2, 'validation_interval': 2,
                    'validation_steps': 1},
    })
    FLAGS = flags.FLAGS
    FLAGS.unparse_flags()
    FLAGS(['run.py', '--experiment=act_resnet_imagenet', '--mode=train_and_eval',
           f'--model_dir={tmp_path}', f'--params_override={override}'])
    with tfds.testing.mock_data(num_examples=64, policy=tfds.testing.MockPolicy.USE_CODE):
        logs = run.run(FLAGS)
    assert 0.0 <= float(logs['accuracy']) <= 1.0
    assert (tmp_path / 'ckpt-2.index').exists()
