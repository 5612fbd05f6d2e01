"""Two short run.py runs of the demo configs, then what a researcher looks at afterwards.

- tools/report.py: a row per run whose figures match the event files, the best checkpoints'
  info.json and an independently built model's parameter count; the CSV; the PNG plots.
- TensorBoard: the learned activation parameters per stage at every evaluation (TPGU a_i and b,
  ACON-C p1/p2/β), equal to the means of the checkpointed variables, and a curve image per stage.
- The log: each line once, no cuInit error, a progress line with steps/s, images/s and the ETA.
"""
import csv
import glob
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests import train_testlib as lib

pytestmark = pytest.mark.slow

RUNS = {
    'convnext_tpgu': ('convnext_imagenet', 'configs/demo/convnext_tpgu_digits.yaml',
                      {'convnext': {'dims': [8, 16, 32, 64], 'depths': [1, 1, 1, 1]}}),
    'resnet_acon': ('act_resnet_imagenet', 'configs/demo/resnet_acon_digits.yaml',
                    {'act_resnet': {'dims': [8, 16, 32, 64], 'stem_width': 8}}),
}
TRAIN_STEPS, INTERVAL, BATCH = 4, 2, 8


def _override(train, val, backbone):
    return json.dumps({
        'task': {'model': {'num_classes': 4, 'backbone': backbone},
                 'train_data': {'input_path': train, 'global_batch_size': BATCH,
                                'num_examples': 32, 'shuffle_buffer_size': 8},
                 'validation_data': {'input_path': val, 'global_batch_size': BATCH,
                                     'num_examples': 16}},
        'trainer': {'train_steps': TRAIN_STEPS, 'steps_per_loop': INTERVAL,
                    'summary_interval': INTERVAL, 'checkpoint_interval': INTERVAL,
                    'validation_interval': INTERVAL, 'validation_steps': 2}})


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp('runs')
    train, val = lib.write_records(str(root / 'records'), 32, size=32, num_classes=4)
    out = {}
    for name, (experiment, config, backbone) in RUNS.items():
        model_dir = str(root / name)
        proc = lib.run_py([f'--experiment={experiment}', '--mode=train_and_eval', '--seed=0',
                           f'--model_dir={model_dir}', f'--config_file={config}',
                           f'--params_override={_override(train, val, backbone)}'])
        assert proc.returncode == 0, proc.stderr[-3000:]
        out[name] = (model_dir, proc.stderr + proc.stdout)
    return out


def _scalars(folder):
    """{tag: {step: value}} of the scalar summaries, read here without the report's code."""
    out = {}
    for path in glob.glob(os.path.join(folder, 'events*')):
        for event in tf.compat.v1.train.summary_iterator(path):
            for v in event.summary.value:
                if v.metadata.plugin_data.plugin_name == 'scalars':
                    out.setdefault(v.tag, {})[event.step] = float(tf.make_ndarray(v.tensor))
    return out


def _plugin_tags(folder, plugin):
    tags = set()
    for path in glob.glob(os.path.join(folder, 'events*')):
        for event in tf.compat.v1.train.summary_iterator(path):
            for v in event.summary.value:
                if v.metadata.plugin_data.plugin_name == plugin:
                    tags.add((v.tag, event.step))
    return tags


def _model(name, model_dir, step):
    """The run's model built from its config, with the raw weights of ckpt-<step>."""
    experiment, config, backbone = RUNS[name]
    from official_ext import registry_imports  # noqa: F401
    from official_ext import resolve
    cfg = resolve.load(experiment, [config], json.dumps(
        {'task': {'model': {'num_classes': 4, 'backbone': backbone}}}))
    model = lib.build(cfg)
    tf.train.Checkpoint(model=model).read(
        os.path.join(model_dir, f'ckpt-{step}')).expect_partial()
    return model


def test_activation_parameters_in_tensorboard(runs):
    expected = {'convnext_tpgu': ['a0', 'a1', 'a2', 'a3', 'b'],
                'resnet_acon': ['p1', 'p2', 'beta']}
    for name, (model_dir, _) in runs.items():
        scalars = _scalars(os.path.join(model_dir, 'validation'))
        model = _model(name, model_dir, TRAIN_STEPS)
        for stage in (1, 2, 3, 4):
            for param in expected[name]:
                tag = f'activation/stage{stage}/{param}'
                assert sorted(scalars.get(tag, {})) == [INTERVAL, TRAIN_STEPS], (name, tag)
                values = [v.numpy() for v in model.trainable_variables
                          if re.search(rf'stage{stage}_block\d+(/act|_act\w*)/{param}:',
                                       v.name)]
                assert values, (name, tag, [v.name for v in model.trainable_variables][:20])
                np.testing.assert_allclose(scalars[tag][TRAIN_STEPS],
                                           np.mean(np.concatenate(values)), rtol=1e-5,
                                           atol=1e-6, err_msg=tag)
        images = _plugin_tags(os.path.join(model_dir, 'validation'), 'images')
        for stage in (1, 2, 3, 4):
            assert (f'activation/stage{stage}/curve', TRAIN_STEPS) in images, images
        histograms = _plugin_tags(os.path.join(model_dir, 'validation'), 'histograms')
        assert (f'activation/stage1/{expected[name][0]}/values', TRAIN_STEPS) in histograms


def test_best_checkpoint_info_holds_step_and_metric(runs):
    for model_dir, _ in runs.values():
        val = _scalars(os.path.join(model_dir, 'validation'))
        for folder, metric in (('best_ckpt', 'accuracy'), ('ema_best_ckpt', 'ema_accuracy')):
            info = json.load(open(os.path.join(model_dir, folder, 'info.json')))
            best_step = max(val[metric], key=lambda s: (val[metric][s], -s))
            assert info['best_ckpt_global_step'] == best_step
            assert info['best_' + metric] == pytest.approx(val[metric][best_step], abs=1e-6)
            assert glob.glob(os.path.join(model_dir, folder, f'*-{best_step}.index'))


def test_logs_are_read_once(runs):
    for _, log in runs.values():
        lines = [l for l in log.splitlines() if l.strip()]
        assert not [l for l in lines if 'cuInit' in l]
        messages = [re.sub(r'^[IWE]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] ', '', l) for l in lines]
        repeated = [m for i, m in enumerate(messages) if i and m == messages[i - 1]]
        assert not repeated, repeated
        progress = [m for m in messages if re.match(
            rf'train \| step \d+/{TRAIN_STEPS} \(\d+ %\) \| [\d.]+ steps/s \| \d+ images/s \| '
            r'ETA \d+:\d\d:\d\d$', m)]
        assert len(progress) == TRAIN_STEPS // INTERVAL, messages
        assert len([m for m in messages if m.startswith('eval | step')]) == 2


def test_report_table_and_plots(runs, tmp_path):
    out = str(tmp_path / 'report')
    dirs = [runs[name][0] for name in RUNS]
    proc = subprocess.run([sys.executable, os.path.join(lib.ROOT, 'tools', 'report.py')]
                          + dirs + ['--out', out], capture_output=True, text=True,
                          timeout=300, cwd=str(tmp_path),
                          env=dict(os.environ, CUDA_VISIBLE_DEVICES=''))
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = list(csv.DictReader(open(os.path.join(out, 'runs.csv'))))
    assert [r['run'] for r in rows] == list(RUNS)
    for row, name in zip(rows, RUNS):
        model_dir = runs[name][0]
        val = _scalars(os.path.join(model_dir, 'validation'))
        for key, tag in (('best_top1', 'accuracy'), ('best_ema_top1', 'ema_accuracy')):
            best_step = max(val[tag], key=lambda s: (val[tag][s], -s))
            assert int(row[key + '_step']) == best_step
            assert float(row[key]) == pytest.approx(val[tag][best_step], abs=1e-6)
        assert float(row['final_top1']) == pytest.approx(val['accuracy'][TRAIN_STEPS], abs=1e-6)
        assert int(row['final_step']) == TRAIN_STEPS
        assert row['experiment'] == RUNS[name][0]
        assert row['activation'] == {'convnext_tpgu': 'tpgu', 'resnet_acon': 'acon_c'}[name]
        assert int(row['trainable_params']) == lib.trainable_count(_model(name, model_dir, 2))
        assert float(row['gflops']) > 0 and float(row['images_per_s']) > 0
        assert float(row['wall_time_s']) > 0 and row['status'] == 'finished'
    table = open(os.path.join(out, 'runs.md')).read().splitlines()
    assert len(table) == 2 + len(RUNS) and 'best EMA top-1 (step)' in table[0]
    for png in ('accuracy.png', 'loss.png', 'activations.png'):
        image = tf.io.decode_png(open(os.path.join(out, png), 'rb').read())
        assert image.shape[0] > 200 and image.shape[1] > 300, png


def test_report_running_run_and_bad_dir(runs, tmp_path):
    """A run that has written its config but no summary yet reads as running; a folder
    that is no run is one clear error."""
    from tools import report
    model_dir, _ = runs['resnet_acon']
    partial = tmp_path / 'partial'
    partial.mkdir()
    for name in ('params.yaml', 'model_summary.txt'):
        tf.io.gfile.copy(os.path.join(model_dir, name), str(partial / name))
    run = report.load_run(str(partial))
    assert run.row['status'] == 'running (step 0/4)' and run.row['best_top1'] is None
    with pytest.raises(report.ReportError, match='params.yaml'):
        report.load_run(str(tmp_path / 'nothing'))
