"""ShuffleNetV2 with Meta-ACON at 224 px: the authors' counts with their generator ratio (r = 8
for 0.5x, 16 otherwise); see test_param_counts_shufflenet.py for the references."""
import pytest
import tf_keras

import acon_light_testlib as ref
import backbone_testlib as bt
import layers
from test_param_counts_shufflenet import _build


@pytest.mark.slow
@pytest.mark.parametrize('model_id', sorted(ref.SHUFFLENET_PARAMS))
def test_meta_acon_counts_with_the_authors_ratio(model_id):
    model = _build(model_id, 'meta_acon')
    assert bt.trainable_count(model) == ref.SHUFFLENET_PARAMS[model_id][1]
    meta_cls = type(layers.get('meta_acon'))
    ratios = {l.r for l in model.backbone.submodules if isinstance(l, meta_cls)}
    assert ratios == {8 if model_id == '0.5x' else 16}
    seed = ref.SEED_SHUFFLENET[model_id][2]
    if seed is not None:
        assert ref.printed_matches(bt.trainable_count(model), seed)
    tf_keras.backend.clear_session()
