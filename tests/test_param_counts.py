"""Exact trainable counts of ConvNeXt, HorNet and Swin (T, S) at 224 px with the 1000-class head,
and every TPGU row of the seed's model-zoo tables.

Independent references: the published base counts, the backbones' published dims/depths, and the
TPGU formula Σ_stages depth_s·(o_s + 2)·4C_s (TPGU of order o adds (o + 2) parameters per
channel at each MLP hidden activation of width 4C). The seed prints millions, sometimes rounded
and sometimes truncated; its Swin rows include the fixed index/mask tensors (249,704 for T,
336,140 for S) that this implementation keeps as graph constants.

Each (family, size) is built ONCE, with one of its seed TPGU rows; the base count is the model's
count without its activation parameters, and every other row is derived from the same model's
per-stage activation widths, then compared with the formula and the seed's printed figure.
"""
import functools
import math

import numpy as np
import pytest
import tf_keras

import backbone_testlib as bt
import layers

ARCH = {  # published base count, dims, depths, Σ depth·4C (architectures.md)
    ('convnext', 'tiny'): (28_589_128, [96, 192, 384, 768], [3, 3, 9, 3], 26_496),
    ('convnext', 'small'): (50_223_688, [96, 192, 384, 768], [3, 3, 27, 3], 54_144),
    ('hornet', 'tiny'): (22_409_512, [64, 128, 256, 512], [2, 3, 18, 2], 24_576),
    ('hornet', 'small'): (49_528_264, [96, 192, 384, 768], [2, 3, 18, 2], 36_864),
    ('swin', 'tiny'): (28_288_354, [96, 192, 384, 768], [2, 2, 6, 2], 17_664),
    ('swin', 'small'): (49_606_258, [96, 192, 384, 768], [2, 2, 18, 2], 36_096),
}
FIXED_TENSORS = {('swin', 'tiny'): 249_704, ('swin', 'small'): 336_140}

# The seed's model-zoo table (000): (family, size) → [(orders or None for the base, Params (M))].
SEED_ROWS = {
    ('convnext', 'tiny'): [
        (None, 28.59), ((1, 1, 1, 1), 28.66), ((2, 2, 2, 2), 28.69), ((3, 3, 3, 3), 28.72),
        ((4, 4, 4, 4), 28.74), ((5, 5, 5, 5), 28.77), ((6, 6, 6, 6), 28.80),
        ((7, 7, 7, 7), 28.82), ((8, 8, 8, 8), 28.85), ((1, 2, 3, 4), 28.72),
        ((2, 3, 4, 5), 28.75), ((3, 4, 5, 6), 28.77), ((4, 5, 6, 7), 28.80),
        ((5, 6, 7, 8), 28.83), ((6, 7, 8, 9), 28.86), ((7, 8, 9, 10), 28.89)],
    ('convnext', 'small'): [(None, 50.22), ((7, 7, 7, 7), 50.71)],
    ('hornet', 'tiny'): [
        (None, 22.41), ((1, 1, 1, 1), 22.48), ((2, 2, 2, 2), 22.50), ((3, 3, 3, 3), 22.53),
        ((4, 4, 4, 4), 22.55), ((1, 2, 3, 4), 22.53), ((2, 3, 4, 5), 22.55),
        ((3, 4, 5, 6), 22.58)],
    ('hornet', 'small'): [(None, 49.52), ((3, 3, 3, 3), 49.71)],
    ('swin', 'tiny'): [
        (None, 28.53), ((1, 1, 1, 1), 28.59), ((2, 2, 2, 2), 28.60), ((3, 3, 3, 3), 28.62),
        ((4, 4, 4, 4), 28.64), ((1, 2, 3, 4), 28.62), ((2, 3, 4, 5), 28.64)],
    ('swin', 'small'): [(None, 49.94), ((3, 3, 3, 3), 50.12)],
}
# The row each (family, size) is built with (distinct per-stage orders where the seed has them).
BUILT_ORDERS = {
    ('convnext', 'tiny'): (7, 8, 9, 10), ('convnext', 'small'): (7, 7, 7, 7),
    ('hornet', 'tiny'): (3, 4, 5, 6), ('hornet', 'small'): (3, 3, 3, 3),
    ('swin', 'tiny'): (2, 3, 4, 5), ('swin', 'small'): (3, 3, 3, 3),
}
ROWS = [(key, orders, millions) for key, rows in SEED_ROWS.items() for orders, millions in rows]
# This module builds the T models; test_param_counts_small.py the S models (two files so that
# pytest-xdist runs the slow builds on both workers).
SIZE = 'tiny'


def rows_of(size):
    return [r for r in ROWS if r[0][1] == size]


def row_id(row):
    (family, size), orders, _ = row
    return f'{family}-{size}-{"base" if orders is None else ",".join(map(str, orders))}'


def keys_of(size):
    return sorted(k for k in ARCH if k[1] == size)


def formula(key, orders):
    base, dims, depths, _ = ARCH[key]
    if orders is None:
        return base
    return base + sum(d * (o + 2) * 4 * c for d, o, c in zip(depths, orders, dims))


def printed_matches(count, millions):
    """The seed's figure is the count in millions rounded or truncated to 2 decimals."""
    m = count / 1e6
    return math.isclose(round(m, 2), millions) or math.isclose(math.floor(m * 100) / 100, millions)


@functools.lru_cache(maxsize=None)
def measured(key):
    """Builds the TPGU model once → (total, base, per-stage activation channel sums)."""
    family, size = key
    orders = BUILT_ORDERS[key]
    model = bt.build({'type': family, family: {
        'model_id': size, 'activation': {'type': 'tpgu', 'tpgu': {'orders': list(orders)}}}})
    tpgu_cls = type(layers.get('tpgu'))
    widths = [0, 0, 0, 0]
    act_params = 0
    for layer in model.backbone.layers:
        act = getattr(layer, 'act', None)
        if isinstance(act, tpgu_cls):
            stage = int(layer.name[len('stage')]) - 1
            n = sum(int(np.prod(v.shape)) for v in act.trainable_weights)
            assert n % (orders[stage] + 2) == 0
            widths[stage] += n // (orders[stage] + 2)
            act_params += n
    total = bt.trainable_count(model)
    del model
    tf_keras.backend.clear_session()
    return total, total - act_params, tuple(widths)


def test_formula_constants_match_the_reference():
    for key, (_, dims, depths, sigma) in ARCH.items():
        assert sum(d * 4 * c for d, c in zip(depths, dims)) == sigma, key
    assert formula(('convnext', 'tiny'), (7, 7, 7, 7)) == 28_827_592
    assert formula(('convnext', 'tiny'), (7, 8, 9, 10)) == 28_885_192


def check_built(key):
    total, base, widths = measured(key)
    assert base == ARCH[key][0]
    assert total == formula(key, BUILT_ORDERS[key])
    _, dims, depths, _ = ARCH[key]
    assert list(widths) == [d * 4 * c for d, c in zip(depths, dims)]


def check_row(key, orders, millions):
    _, base, widths = measured(key)
    count = base + (0 if orders is None else
                    sum((o + 2) * w for o, w in zip(orders, widths)))
    assert count == formula(key, orders)
    assert printed_matches(count + FIXED_TENSORS.get(key, 0), millions), (count, millions)


@pytest.mark.slow
@pytest.mark.parametrize('key', keys_of(SIZE), ids=lambda k: '-'.join(k))
def test_exact_base_and_built_tpgu_counts(key):
    check_built(key)


@pytest.mark.slow
@pytest.mark.parametrize('key,orders,millions', rows_of(SIZE), ids=map(row_id, rows_of(SIZE)))
def test_seed_row(key, orders, millions):
    check_row(key, orders, millions)
