"""ShuffleNetV2 at 224 px, 1000 classes: exact counts of the ACON authors' models for every
model_id (ACON-C, ReLU; Meta-ACON in test_param_counts_shufflenet_meta.py, a second file so
that pytest-xdist shares the 224-px builds between workers) and the seed's FLOPs.

References: `acon_light_testlib` (counted from the authors' PyTorch classes) and seed 001.
"""
import pytest
import tf_keras

import acon_light_testlib as ref
import backbone_testlib as bt
import layers


def _build(model_id, activation):
    return bt.build({'type': 'shufflenet_v2', 'shufflenet_v2': {
        'model_id': model_id, 'activation': {'type': activation}}})


@pytest.mark.slow
@pytest.mark.parametrize('model_id', sorted(ref.SHUFFLENET_PARAMS))
def test_acon_c_and_relu_counts_and_flops(model_id):
    acon, _, relu = ref.SHUFFLENET_PARAMS[model_id]
    model = _build(model_id, 'acon_c')
    assert bt.trainable_count(model) == acon
    # The ReLU/Swish network is the same one without ACON-C's p1, p2, beta (3 per channel).
    acon_cls = type(layers.get('acon_c'))
    sites = [l for l in model.backbone.submodules if isinstance(l, acon_cls)]
    assert bt.trainable_count(model) - 3 * sum(int(l.p1.shape[0]) for l in sites) == relu
    macs = ref.conv_dense_macs(model)
    assert macs == ref.SHUFFLENET_MACS[model_id]
    flops, params, _ = ref.SEED_SHUFFLENET[model_id]
    assert -(-macs // 1_000_000) == flops
    assert ref.printed_matches(relu, params) and ref.printed_matches(acon, params)
    tf_keras.backend.clear_session()


def test_relu_network_has_no_activation_weights():
    relu = _build('0.5x', 'relu')
    assert bt.trainable_count(relu) == ref.SHUFFLENET_PARAMS['0.5x'][2]
    assert ref.conv_dense_macs(relu) == ref.SHUFFLENET_MACS['0.5x']
    tf_keras.backend.clear_session()
