"""model_dir records and guard (official_ext/model_dir.py) and the demo writer (data/digits.py).

Fast, in-process: a checkpoint is a one-variable tf.train.Checkpoint, configs are the
experiment's own. The end-to-end versions through run.py are in test_integrity_run.py.
"""
import os

import pytest
import tensorflow as tf

from official.core import exp_factory

from data import digits
from official_ext import model_dir as md
from official_ext import registry_imports  # noqa: F401


def _params(**override):
    params = exp_factory.get_exp_config('convnext_imagenet')
    params.override(override, is_strict=False)
    return params


def _checkpoint(folder, step=1):
    """A real checkpoint at `step`, recorded as the latest (as training leaves it)."""
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(v=tf.Variable(1.0)), folder, 3)
    manager.save(checkpoint_number=step)


def test_no_checkpoint_means_nothing_to_compare(tmp_path):
    assert md.check_compatible(_params(), str(tmp_path)) == []


def test_model_change_is_refused_with_old_and_new_values(tmp_path):
    folder = str(tmp_path)
    md.record_config(_params(), folder)
    _checkpoint(folder)
    changed = _params(task={'model': {'num_classes': 10, 'backbone': {'convnext': {
        'activation': {'type': 'tpgu', 'tpgu': {'orders': [5, 5, 5, 5]}}}}}})
    with pytest.raises(md.ModelDirError) as error:
        md.check_compatible(changed, folder)
    message = str(error.value)
    assert 'task.model.num_classes: 1000 -> 10' in message
    assert "task.model.backbone.convnext.activation.type: 'gelu' -> 'tpgu'" in message
    assert 'task.model.backbone.convnext.activation.tpgu.orders: (unset) -> [5, 5, 5, 5]' in message
    assert '\n' not in message


@pytest.mark.parametrize('override, key', [
    ({'trainer': {'optimizer_config': {'optimizer': {'type': 'sgd'}}}},
     'trainer.optimizer_config.optimizer.type'),
    ({'trainer': {'optimizer_config': {'ema': None}}}, 'trainer.optimizer_config.ema'),
])
def test_optimizer_state_changes_are_refused(tmp_path, override, key):
    folder = str(tmp_path)
    md.record_config(_params(), folder)
    _checkpoint(folder)
    with pytest.raises(md.ModelDirError, match=key.replace('.', r'\.')):
        md.check_compatible(_params(**override), folder)


def test_schedule_and_input_changes_are_allowed(tmp_path):
    folder = str(tmp_path)
    md.record_config(_params(), folder)
    _checkpoint(folder)
    diffs = md.check_compatible(_params(
        trainer={'train_steps': 7, 'validation_interval': 3,
                 'optimizer_config': {'learning_rate': {'cosine': {
                     'initial_learning_rate': 0.5}}}},
        task={'train_data': {'input_path': '/elsewhere/train-*'}}), folder)
    keys = {d[0] for d in diffs}
    assert {'trainer.train_steps', 'trainer.validation_interval',
            'task.train_data.input_path'} <= keys


def test_checkpoint_without_record_is_refused(tmp_path):
    _checkpoint(str(tmp_path))
    with pytest.raises(md.ModelDirError, match='no params.yaml'):
        md.check_compatible(_params(), str(tmp_path))


def test_first_record_is_never_overwritten(tmp_path):
    folder = str(tmp_path)
    first = md.record_config(_params(trainer={'train_steps': 11}), folder)
    _checkpoint(folder)
    second = md.record_config(_params(trainer={'train_steps': 22}), folder)
    assert os.path.basename(first) == 'params.yaml'
    assert os.path.basename(second).startswith('params-') and second.endswith('Z.yaml')
    assert 'train_steps: 11' in open(first).read()
    assert 'train_steps: 22' in open(second).read()


def test_record_of_a_run_that_kept_nothing_moves_aside(tmp_path):
    folder = str(tmp_path)
    md.record_config(_params(trainer={'train_steps': 11}), folder)  # crashed before a ckpt
    md.record_config(_params(trainer={'train_steps': 22}), folder)
    names = sorted(os.listdir(folder))
    assert 'params.yaml' in names and len(names) == 2
    assert 'train_steps: 22' in open(os.path.join(folder, 'params.yaml')).read()
    aside = [n for n in names if n != 'params.yaml'][0]
    assert 'train_steps: 11' in open(os.path.join(folder, aside)).read()


def test_recorded_seed_is_reused(tmp_path):
    md.record_config(_params(task={'train_data': {'seed': 1234}}), str(tmp_path))
    assert md.recorded_seed(str(tmp_path)) == 1234
    assert md.recorded_seed(str(tmp_path / 'absent')) is None


def test_partial_checkpoint_folders_are_removed_and_nothing_else(tmp_path):
    for path in ('ckpt-8_temp/part-0', 'best_ckpt/best_ckpt-6_temp/part-0',
                 'ema_checkpoints/average_weights-4_temp/x', 'my_temp/keep', 'ckpt-4.index',
                 'notes_temp'):
        full = tmp_path / path
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_text('x')
    removed = md.remove_partial_checkpoints(str(tmp_path))
    assert sorted(os.path.relpath(p, tmp_path) for p in removed) == [
        os.path.join('best_ckpt', 'best_ckpt-6_temp'),
        'ckpt-8_temp', os.path.join('ema_checkpoints', 'average_weights-4_temp')]
    assert (tmp_path / 'my_temp' / 'keep').exists() and (tmp_path / 'ckpt-4.index').exists()
    assert (tmp_path / 'notes_temp').exists()


# ------------------------------------------------------------------------------ demo writer
def test_demo_set_written_into_absent_folder_with_its_marker(tmp_path):
    pattern = str(tmp_path / 'act_digits' / 'train-*')
    assert digits.ensure(pattern)
    assert (tmp_path / 'act_digits' / digits.MARKER_FILE).exists()
    assert not digits.ensure(pattern)  # present: nothing to do


def test_demo_set_rewritten_only_in_its_own_marked_folder(tmp_path):
    folder = tmp_path / 'act_digits'
    assert digits.ensure(str(folder / 'train-*'))
    for shard in folder.glob('train-*'):
        shard.unlink()
    assert digits.ensure(str(folder / 'train-*'))  # marked: the demo's own, rewritten
    assert list(folder.glob('train-*'))


def test_demo_set_never_written_into_a_foreign_or_non_demo_folder(tmp_path):
    foreign = tmp_path / 'my_digits'
    foreign.mkdir()
    (foreign / 'train-00000-of-00001').write_bytes(b'user data')
    before = sorted(os.listdir(foreign))
    assert not digits.ensure(str(foreign / 'nomatch-*'))
    assert sorted(os.listdir(foreign)) == before
    assert (foreign / 'train-00000-of-00001').read_bytes() == b'user data'
    assert not digits.ensure(str(tmp_path / 'imagenet' / 'train-*'))  # name lacks 'digits'
    assert not (tmp_path / 'imagenet').exists()
    empty = tmp_path / 'empty_digits'
    empty.mkdir()
    assert digits.ensure(str(empty / 'train-*'))  # empty: allowed
