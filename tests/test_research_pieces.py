"""Fast checks of the pieces behind the logs, the TensorBoard activation summaries and the plots
(the end-to-end runs are in test_report.py and test_export.py)."""
import os
import sys

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import layers
from official_ext import controller
from official_ext import learned_activations as la
from official_ext import quiet_logs
from official_ext import trainer
from tests import act_reference as ref


def test_progress_line_rates_and_eta():
    line = controller.progress_line(step=150, train_steps=450, num_steps=50, seconds=4.0,
                                    images_per_step=64)
    # 50 steps in 4 s = 12.5 steps/s = 800 images/s; 300 steps left = 24 s.
    assert line == 'train | step 150/450 (33 %) | 12.5 steps/s | 800 images/s | ETA 0:00:24'
    assert controller.progress_line(7200, 7200, 100, 10.0, 8).endswith('ETA 0:00:00')
    assert 'ETA 2:46:40' in controller.progress_line(0, 100000, 100, 10.0, 8)


def test_orbit_output_on_one_line():
    text = controller._format_once({'training_loss': np.float32(0.123456789), 'accuracy': 0.5,
                                    'note': 'x'})
    assert text == 'accuracy=0.5, note=x, training_loss=0.1235'


def test_eval_line_raw_and_ema_side_by_side():
    logs = {'accuracy': 0.925, 'ema_accuracy': 0.93888, 'best_accuracy': 0.97222,
            'best_ema_accuracy': 0.93888, 'validation_loss': 0.724009}
    line = trainer.eval_line(150, logs, {'accuracy': 100, 'ema_accuracy': 150})
    assert line == ('eval | step 150 | raw top-1 92.50 % (best 97.22 % at step 100) | '
                    'EMA top-1 93.89 % (best 93.89 % at step 150) | validation_loss 0.7240')


def test_filtered_stderr_drops_only_the_named_c_lines(capfd):
    with quiet_logs.filtered_stderr(quiet_logs.CUINIT):
        os.write(2, b'E0000 cuda_platform.cc:51] failed call to cuInit: UNKNOWN ERROR (303)\n')
        os.write(2, b'W0000 something the user must see\n')
    err = capfd.readouterr().err
    assert 'cuInit' not in err and 'something the user must see' in err


class _Block(tf_keras.layers.Layer):
    """A block holding its activation, as the backbones' blocks do (weights `stageN_blockB/act/`)."""

    def __init__(self, act, **kwargs):
        super().__init__(**kwargs)
        self.act = act

    def call(self, x):
        return self.act(x)


def _tpgu_model(channels=6, seed=3):
    """Two stages, TPGU order 2, named as the backbones name their blocks."""
    tf_keras.utils.set_random_seed(seed)
    x = inputs = tf_keras.Input([channels])
    acts = []
    for stage in (1, 2):
        act = layers.get({'type': 'tpgu', 'tpgu': {'order': 2}}, name='act')
        x = _Block(act, name=f'stage{stage}_block0')(x)
        acts.append(act)
    model = tf_keras.Model(inputs, x)
    for layer in acts:  # Away from the initial values, so that every weight matters.
        for w in layer.weights:
            w.assign(tf.random.normal(w.shape, stddev=0.3) + w)
    return model, acts


def test_stage_parameters_and_curves_against_numpy():
    model, acts = _tpgu_model()
    params = la.stage_parameters(model)
    assert sorted(params) == [1, 2] and sorted(params[1]) == ['a0', 'a1', 'a2', 'b']
    for stage, layer in zip((1, 2), acts):
        weights = {w.name.split('/')[-1].split(':')[0]: w.numpy() for w in layer.weights}
        for name, value in weights.items():
            np.testing.assert_array_equal(params[stage][name], value)
        # The curve: the numpy TPGU formula per channel, then median and 10/90 percentiles.
        x = la.GRID[:, None].astype(np.float64)
        y = ref.tpgu_ref(x, weights['b'][None], **{k: v[None] for k, v in weights.items()
                                                   if k != 'b'})
        median, low, high = la.stage_curves(model)[stage]
        np.testing.assert_allclose(median, np.median(y, axis=1), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(low, np.percentile(y, 10, axis=1), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(high, np.percentile(y, 90, axis=1), rtol=1e-4, atol=1e-4)


def test_write_summaries_tags(tmp_path):
    model, _ = _tpgu_model()
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        tags = la.write_summaries(model, step=7)
    writer.flush()
    found = {}
    for path in tf.io.gfile.glob(str(tmp_path / 'events*')):
        for event in tf.compat.v1.train.summary_iterator(path):
            for v in event.summary.value:
                found[v.tag] = (event.step, v.metadata.plugin_data.plugin_name, v)
    for stage in (1, 2):
        for name in ('a0', 'a1', 'a2', 'b'):
            step, plugin, value = found[f'activation/stage{stage}/{name}']
            assert step == 7 and plugin == 'scalars'
            assert found[f'activation/stage{stage}/{name}/values'][1] == 'histograms'
        step, plugin, value = found[f'activation/stage{stage}/curve']
        assert plugin == 'images'
        png = tf.make_ndarray(value.tensor)[2]  # [width, height, encoded PNG]
        assert tf.io.decode_png(png).shape[-1] in (3, 4)
    assert sorted(tags) == sorted(found)


def test_gelu_reference_curve():
    from scipy.special import erf
    x = la.GRID.astype(np.float64)
    np.testing.assert_allclose(la.gelu(x), 0.5 * x * (1 + erf(x / np.sqrt(2))), atol=1e-12)


def test_best_checkpoint_info_json(tmp_path):
    import json
    exporter = trainer.BestCheckpointExporter(str(tmp_path), 'ema_accuracy', 'higher')
    checkpoint = tf.train.Checkpoint(v=tf.Variable(1.0))
    logs = {'ema_accuracy': tf.constant(0.5), 'accuracy': 0.25, 'best_accuracy': 0.75}
    assert exporter.maybe_export_checkpoint(checkpoint, logs, 10)
    assert not exporter.maybe_export_checkpoint(checkpoint, {'ema_accuracy': 0.4}, 20)
    assert exporter.maybe_export_checkpoint(checkpoint, {'ema_accuracy': 0.6}, 30)
    info = json.load(open(tmp_path / 'info.json'))
    assert info == {'ema_accuracy': pytest.approx(0.6), 'best_ema_accuracy': pytest.approx(0.6),
                    'best_ckpt_global_step': 30}
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith('-30')
    # A new run of the same model_dir reads the step back.
    assert trainer.BestCheckpointExporter(str(tmp_path), 'ema_accuracy', 'higher').best_step == 30
