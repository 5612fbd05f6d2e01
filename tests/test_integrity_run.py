"""run.py's integrity guarantees, tried as a user would: bad input in, exit code and message out,
and nothing on disk lost or changed (checksums of the user's files and of model_dir).

Cases: the demo writer next to user data, rerunning into a model_dir with another model, a
NaN loss, invalid configs, and corrupt shards (validation, training, class count).
"""
import glob
import json
import os
import re
import time

import pytest

from tests import train_testlib as lib
from tests.test_convert_trees import checksums  # sha256 of every file and folder

pytestmark = pytest.mark.slow

LOG_LINE = re.compile(r'^([IWEF]\d{4} |\d{4}-\d\d-\d\d |WARNING:|To enable the following)')


def user_lines(stderr):
    """stderr without TensorFlow's and absl's log lines: what the user is meant to read."""
    return [l for l in stderr.splitlines() if l.strip() and not LOG_LINE.match(l)]


def assert_one_line_error(result, code, *needles):
    lines = user_lines(result.stderr)
    assert result.returncode == code, result.stderr[-3000:]
    assert 'Traceback' not in result.stderr, result.stderr[-3000:]
    errors = [l for l in lines if l.startswith('run.py: error:')]
    assert len(errors) == 1, lines
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def tiny_override(data, orders=(3, 3, 3, 3), train_steps=2, **extra):
    train, val = data
    cfg = {
        'runtime': {'distribution_strategy': 'one_device', 'mixed_precision_dtype': 'float32'},
        'task': {'model': {'num_classes': 4, 'input_size': [32, 32, 3],
                           'backbone': {'type': 'convnext', 'convnext': {
                               'dims': [8, 16, 32, 64], 'depths': [1, 1, 1, 1],
                               'activation': {'type': 'tpgu',
                                              'tpgu': {'orders': list(orders)}}}}},
                 'losses': {'one_hot': True, 'soft_labels': False},
                 'train_data': {'input_path': train, 'global_batch_size': 4, 'dtype': 'float32',
                                'aug_type': None, 'mixup_and_cutmix': None,
                                'random_erasing': None, 'shuffle_buffer_size': 8},
                 'validation_data': {'input_path': val, 'global_batch_size': 8,
                                     'dtype': 'float32', 'drop_remainder': False}},
        'trainer': {'train_steps': train_steps, 'steps_per_loop': 1, 'summary_interval': 1,
                    'checkpoint_interval': 1, 'validation_interval': train_steps,
                    'validation_steps': 1},
    }
    for section, value in extra.items():
        cfg[section].update(value)
    return json.dumps(cfg)


def run(model_dir, override, *flags):
    return lib.run_py(['--experiment=convnext_imagenet', '--mode=train_and_eval', '--seed=0',
                       f'--model_dir={model_dir}', f'--params_override={override}', *flags])


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return lib.write_records(str(tmp_path_factory.mktemp('records')), 32, size=32)


@pytest.fixture(scope='module')
def trained(tmp_path_factory, data):
    """A model_dir trained 2 steps with TPGU{3,3,3,3}."""
    model_dir = str(tmp_path_factory.mktemp('trained'))
    result = run(model_dir, tiny_override(data))
    assert result.returncode == 0, result.stderr[-3000:]
    return model_dir


# ---------------------------------------------------------------------------------- demo data
def test_demo_writer_never_touches_a_user_folder(tmp_path, data):
    folder = tmp_path / 'my_digits_data'
    folder.mkdir()
    (folder / 'train-00000-of-00001').write_bytes(b'user shard, not to be touched')
    (folder / 'notes.txt').write_text('mine')
    before = checksums(str(tmp_path))
    _, val = data
    override = tiny_override((str(folder / 'nomatch-*'), val))
    result = run(str(tmp_path / 'model'), override)
    assert_one_line_error(result, 2, 'nomatch-*', 'matches no file')
    assert checksums(str(tmp_path)) == before


# ---------------------------------------------------------------------------------- model_dir
def test_rerun_with_another_model_is_refused_and_changes_nothing(trained, data):
    before = checksums(trained)
    result = run(trained, tiny_override(data, orders=(5, 5, 5, 5)))
    message = assert_one_line_error(
        result, 2, 'task.model.backbone.convnext.activation.tpgu.orders: [3, 3, 3, 3] -> '
        '[5, 5, 5, 5]', 'new --model_dir', 'init_checkpoint')
    assert trained in message
    assert checksums(trained) == before


def test_rerun_with_allowed_changes_keeps_the_first_record(trained, data, tmp_path):
    first = open(os.path.join(trained, 'params.yaml')).read()
    result = run(trained, tiny_override(data, train_steps=3))
    assert result.returncode == 0, result.stderr[-3000:]
    assert open(os.path.join(trained, 'params.yaml')).read() == first
    later = [n for n in os.listdir(trained) if re.fullmatch(r'params-\d{8}T\d{6}\.\d+Z\.yaml', n)]
    assert len(later) == 1, os.listdir(trained)
    assert 'train_steps: 3' in open(os.path.join(trained, later[0])).read()
    assert 'train_steps: 2' in first


def test_nan_loss_stops_with_exit_1_and_keeps_the_checkpoints(trained, data):
    import numpy as np
    import tensorflow as tf
    best_before = checksums(os.path.join(trained, 'best_ckpt'))
    params_before = open(os.path.join(trained, 'params.yaml')).read()
    huge_lr = {'optimizer_config': {
        'learning_rate': {'type': 'constant', 'constant': {'learning_rate': 1e30}},
        'warmup': {'type': None}}}
    result = run(trained, tiny_override(data, train_steps=8, trainer=huge_lr))
    message = assert_one_line_error(result, 1, 'NaN or Inf', 'at step', 'learning rate',
                                    'last good checkpoint')
    latest = tf.train.latest_checkpoint(trained)
    assert latest in message
    step = int(re.search(r'at step (\d+)', message).group(1))
    assert int(latest.rsplit('-', 1)[1]) == step - 1  # Saved before the bad loop, not after.
    reader = tf.train.load_checkpoint(latest)
    for key in reader.get_variable_to_shape_map():
        value = reader.get_tensor(key)
        if isinstance(value, np.ndarray) and value.dtype.kind == 'f':
            assert np.all(np.isfinite(value)), key
    assert checksums(os.path.join(trained, 'best_ckpt')) == best_before
    assert open(os.path.join(trained, 'params.yaml')).read() == params_before


# ---------------------------------------------------------------------------------- configs
@pytest.mark.parametrize('settings, needles', [
    ({'orders': [2.5, 3, 3, 3]}, ['tpgu.orders[0] = 2.5', 'stage 1']),
    ({'order': 2.7, 'orders': []}, ['tpgu.order = 2.7']),
    ({'orders': [3, '3', 3, 3]}, ['orders[1]', 'stage 2']),
    ({'orders': [3, 3, -1, 3]}, ['orders[2] = -1', 'stage 3']),
])
def test_invalid_tpgu_orders_exit_2_naming_the_stage(tmp_path, data, settings, needles):
    cfg = json.loads(tiny_override(data))
    cfg['task']['model']['backbone']['convnext']['activation']['tpgu'] = settings
    result = run(str(tmp_path / 'm'), json.dumps(cfg))
    assert_one_line_error(result, 2, '>= 0', *needles)
    assert not (tmp_path / 'm').exists()


def test_unknown_activation_in_yaml_names_the_path_and_every_valid_name(tmp_path, data):
    import layers
    config = tmp_path / 'bad.yaml'
    config.write_text('task:\n  model:\n    backbone:\n      convnext:\n        activation:\n'
                      '          type: tpgux\n')
    result = lib.run_py(['--experiment=convnext_imagenet', '--mode=train',
                         f'--model_dir={tmp_path / "m"}', f'--config_file={config}'])
    message = assert_one_line_error(result, 2, 'task.model.backbone.convnext.activation.type',
                                    "'tpgux'")
    for name in layers.names():
        assert name in message
    assert not (tmp_path / 'm').exists()


# ---------------------------------------------------------------------------------- data
def _corrupt(path, offset_from_end=40):
    raw = bytearray(open(path, 'rb').read())
    raw[len(raw) - offset_from_end] ^= 0xFF
    open(path, 'wb').write(bytes(raw))


def test_corrupt_validation_shard_fails_before_training(tmp_path):
    train, val = lib.write_records(str(tmp_path / 'data'), 32, size=32)
    shard = sorted(glob.glob(val))[0]
    _corrupt(shard)
    start = time.time()
    result = run(str(tmp_path / 'model'), tiny_override((train, val), train_steps=50))
    assert_one_line_error(result, 2, shard, 'validation')
    assert time.time() - start < 60
    assert not (tmp_path / 'model' / 'checkpoint').exists()


def test_corrupt_training_record_is_named_when_training_reaches_it(tmp_path):
    train, val = lib.write_records(str(tmp_path / 'data'), 32, size=32)
    shard = sorted(glob.glob(train))[-1]
    _corrupt(shard)  # Inside the last record: the quick pre-check reads only the first one.
    result = run(str(tmp_path / 'model'), tiny_override((train, val), train_steps=20))
    assert_one_line_error(result, 2, shard, 'train', 'corrupt')
    # --check_data finds it before any step.
    result = run(str(tmp_path / 'model2'), tiny_override((train, val)), '--check_data')
    assert_one_line_error(result, 2, shard, 'train')
    assert not (tmp_path / 'model2' / 'checkpoint').exists()


def test_fewer_classes_than_the_converter_wrote_is_an_error(tmp_path):
    train, val = lib.write_records(str(tmp_path / 'data'), 32, size=32, num_classes=4)
    (tmp_path / 'data' / 'summary.json').write_text(json.dumps(
        {'num_classes': 6, 'label_offset': 0, 'labels': {str(i): i for i in range(6)}}))
    result = run(str(tmp_path / 'model'), tiny_override((train, val)))
    assert_one_line_error(result, 2, 'summary.json', 'num_classes: 6')
