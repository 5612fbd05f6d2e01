"""Exact counts of ConvNeXt-S, HorNet-S and Swin-S and their seed TPGU rows (see
test_param_counts.py for the references and the method; split off so both xdist workers share
the slow 224-px builds)."""
import pytest

from test_param_counts import check_built, check_row, keys_of, row_id, rows_of

SIZE = 'small'


@pytest.mark.slow
@pytest.mark.parametrize('key', keys_of(SIZE), ids=lambda k: '-'.join(k))
def test_exact_base_and_built_tpgu_counts(key):
    check_built(key)


@pytest.mark.slow
@pytest.mark.parametrize('key,orders,millions', rows_of(SIZE), ids=map(row_id, rows_of(SIZE)))
def test_seed_row(key, orders, millions):
    check_row(key, orders, millions)
