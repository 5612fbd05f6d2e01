"""TPGU: sigmoid-derivative polynomials, values and gradients vs independent numpy references."""
import math

import numpy as np
import pytest
import tensorflow as tf

import layers
from act_reference import (GRID, MODERATE, check_case, grad_grid, grid2d, polyval, sig,
                           sigmoid_poly_recurrence, sigmoid_poly_stirling, tpgu_param_grads, tpgu_ref)
from layers import tpgu as tpgu_mod

# P1..P4 exactly as printed in the reference (authors' closed forms), highest power first.
PRINTED = {
    1: lambda f: f - f ** 2,
    2: lambda f: 2 * f ** 3 - 3 * f ** 2 + f,
    3: lambda f: -6 * f ** 4 + 12 * f ** 3 - 7 * f ** 2 + f,
    4: lambda f: 24 * f ** 5 - 60 * f ** 4 + 50 * f ** 3 - 15 * f ** 2 + f,
}
F = np.linspace(0.0, 1.0, 41)


@pytest.mark.parametrize('n', sorted(PRINTED))
def test_stirling_closed_form_matches_printed_p1_to_p4(n):
    np.testing.assert_allclose(polyval(sigmoid_poly_stirling(n), F), PRINTED[n](F), atol=1e-12)


def _layer_poly(n, f):
    """Evaluates the layer's (f, 1 − f) expansion of σ^(n) in float64 numpy."""
    return sum(c * f ** p * (1 - f) ** q for c, p, q in tpgu_mod.sigmoid_derivative_terms(n))


def _layer_monomials(n):
    """The layer's (f, 1 − f) terms expanded exactly into integer monomial coefficients."""
    out = [0] * (n + 2)
    for c, p, q in tpgu_mod.sigmoid_derivative_terms(n):
        for j in range(q + 1):  # (1 − f)^q = Σ_j C(q, j) (−f)^j
            out[p + j] += c * math.comb(q, j) * (-1) ** j
    return out


@pytest.mark.parametrize('n', range(0, 11))
def test_derivative_terms_match_recurrence(n):
    assert _layer_monomials(n) == sigmoid_poly_recurrence(n)


@pytest.mark.parametrize('n', range(0, 9))
def test_derivative_terms_match_closed_form(n):
    """Orders 0..8 (the authors' hard-coded range) against the Stirling closed form, exactly."""
    assert _layer_monomials(n) == sigmoid_poly_stirling(n)


def test_sigmoid_derivatives_numerically():
    """σ^(n)(t) = P_n(σ(t)) against repeated finite differences for low orders (sanity of both)."""
    t = np.linspace(-3, 3, 13)
    h = 1e-3
    d1 = (sig(t + h) - sig(t - h)) / (2 * h)
    d2 = (sig(t + h) - 2 * sig(t) + sig(t - h)) / h ** 2
    np.testing.assert_allclose(_layer_poly(1, sig(t)), d1, rtol=1e-5)
    np.testing.assert_allclose(_layer_poly(2, sig(t)), d2, atol=1e-5)


@pytest.mark.parametrize('order', range(0, 11))
def test_gate_coefficients_float32(order):
    """g^(i)(b)/i! computed in float32 by the layer vs float64 closed form, b over a wide range."""
    b = np.linspace(-4, 4, 17)
    got = tpgu_mod.gate_taylor_coefficients(tf.constant(b, tf.float32), order)
    for i, g in enumerate(got):
        want = 1.702 ** i * polyval(sigmoid_poly_stirling(i), sig(1.702 * b)) / math.factorial(i)
        np.testing.assert_allclose(g.numpy(), want, rtol=1e-4, atol=1e-6, err_msg=f'i={i}')


def _params(order, scale=0.3, seed=0):
    rng = np.random.default_rng(seed)
    p = {f'a{i}': rng.normal(0, scale, 3) for i in range(order + 1)}
    p['a0'] = p['a0'] + 1.0
    p['b'] = np.array([0.3, -0.5, 1.2])
    return p


@pytest.mark.parametrize('order', [0, 1, 2, 3])
def test_values_and_grads_extreme_grid(order):
    x = grid2d(grad_grid(GRID))
    check_case('tpgu', tpgu_ref, x, {'order': order}, _params(order), grad_rtol=5e-4,
               analytic=tpgu_param_grads(order))


@pytest.mark.parametrize('order', range(4, 11))
def test_values_and_grads_high_orders(order):
    x = grid2d(MODERATE)
    check_case('tpgu', tpgu_ref, x, {'order': order}, _params(order, scale=0.05, seed=order),
               rtol=1e-4, grad_rtol=1e-3)


@pytest.mark.parametrize('order', [0, 3, 10])
def test_weights_and_init(order):
    layer = layers.get({'type': 'tpgu', 'tpgu': {'order': order}})
    x = np.linspace(-2, 2, 8 * 5).reshape(2, 4, 5).astype(np.float32)
    y = layer(x).numpy()
    names = [w.name.split('/')[-1].split(':')[0] for w in layer.trainable_weights]
    assert names == [f'a{i}' for i in range(order + 1)] + ['b']
    assert all(w.shape == (5,) for w in layer.trainable_weights)
    assert layer.count_params() == (order + 2) * 5
    np.testing.assert_array_equal(layer.trainable_weights[0].numpy(), np.ones(5))
    np.testing.assert_array_equal(layer.trainable_weights[-1].numpy(), np.zeros(5))
    if order:
        a = np.stack([w.numpy() for w in layer.trainable_weights[1:-1]])
        assert np.all(np.abs(a) <= 0.04 + 1e-7) and np.std(a) > 0  # truncated at 2 stddev
        assert len({tuple(r) for r in a}) == order  # each a_i drawn separately
    # At initialisation TPGU ≈ 0.5·x (a_0 = 1, b = 0, small a_i).
    np.testing.assert_allclose(y, 0.5 * x, atol=0.05 * np.abs(x).max() ** (order + 1) + 1e-6)


def test_initializer_settings():
    layer = layers.get({'type': 'tpgu', 'tpgu': {'order': 2, 'a_stddev': 0.0, 'b_init': 0.25}})
    layer.build([None, 4])
    np.testing.assert_array_equal(layer.a[1].numpy(), np.zeros(4))
    np.testing.assert_array_equal(layer.b.numpy(), np.full(4, 0.25))
    layer = tpgu_mod.TPGU(order=1, a_initializer='ones', b_initializer={'class_name': 'Constant', 'config': {'value': -1.0}})
    layer.build([None, 4])
    np.testing.assert_array_equal(layer.a[1].numpy(), np.ones(4))
    np.testing.assert_array_equal(layer.b.numpy(), -np.ones(4))
    clone = tpgu_mod.TPGU.from_config(layer.get_config())
    clone.build([None, 4])
    np.testing.assert_array_equal(clone.b.numpy(), -np.ones(4))


@pytest.mark.parametrize('bad', [-1, 2.5, True, '3'])
def test_bad_order(bad):
    with pytest.raises(ValueError, match='order must be an integer >= 0'):
        layers.get({'type': 'tpgu', 'tpgu': {'order': bad}})


def test_orders_setting_in_get():
    layers.get({'type': 'tpgu', 'tpgu': {'order': 2, 'orders': []}})  # empty: ignored
    with pytest.raises(ValueError, match='stage_specs'):
        layers.get({'type': 'tpgu', 'tpgu': {'orders': [1, 2, 3, 4]}})


@pytest.mark.parametrize('order', [0, 2, 5])
def test_analytic_reference_grads_match_finite_differences(order):
    """Checks the test's own analytic ∂y/∂a_i, ∂y/∂b (used on the extreme grid) numerically."""
    x = grid2d(MODERATE)
    p = _params(order)
    grads = tpgu_param_grads(order)
    for k in p:
        h = 1e-6
        up = dict(p, **{k: p[k] + h})
        dn = dict(p, **{k: p[k] - h})
        numeric = (tpgu_ref(x, **up) - tpgu_ref(x, **dn)) / (2 * h)
        np.testing.assert_allclose(grads[k](x, **p), numeric, rtol=1e-5, atol=1e-6, err_msg=k)
