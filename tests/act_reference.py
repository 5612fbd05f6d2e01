"""Independent float64 numpy references of every activation, and a value/gradient check harness.

Nothing here imports `layers`' math: the formulas are re-derived from ../shared/reference/
activations.md (TPGU's sigmoid derivatives from the Stirling-number closed form, not the
recurrence the layer uses), and gradients are central differences of these references.
"""
import math
from typing import Callable, Dict, List, Optional

import numpy as np
import tensorflow as tf
from scipy.special import erf, expit

import layers

# Grid with extreme inputs; kinks (0) are nudged for gradient checks by `grad_grid`.
GRID = np.array([-1e4, -100.0, -30.0, -10.0, -3.0, -1.0, -0.5, -0.1, 0.0, 0.1, 0.5, 1.0, 3.0,
                 10.0, 30.0, 100.0, 1e4])
MODERATE = np.linspace(-6.0, 6.0, 25)
CHANNELS = 3


def grid2d(values: np.ndarray) -> np.ndarray:
    """[N, C] array: every channel sees the whole grid (channels get different parameters)."""
    return np.repeat(values[:, None], CHANNELS, axis=1)


def grad_grid(values: np.ndarray, avoid=(0.0,)) -> np.ndarray:
    """The grid with points at kinks moved off them (central differences are wrong at kinks)."""
    out = values.copy()
    for k in avoid:
        out[np.isclose(out, k)] = k + 1e-2
    return out


# ---------------------------------------------------------------- sigmoid derivatives (Stirling)
def stirling2(n: int, k: int) -> int:
    """S(n, k) from the explicit sum, exactly (independent of any recurrence)."""
    return sum((-1) ** j * math.comb(k, j) * (k - j) ** n for j in range(k + 1)) // math.factorial(k)


def sigmoid_poly_stirling(n: int) -> List[int]:
    """Monomial coefficients c[k] of P_n(f) = Σ_k c[k] f^k, P_n = σ^(n)∘σ^-1 (closed form)."""
    c = [0] * (n + 2)
    for k in range(1, n + 2):
        c[k] = (-1) ** (k - 1) * math.factorial(k - 1) * stirling2(n + 1, k)
    return c


def sigmoid_poly_recurrence(n: int) -> List[int]:
    """Same polynomial from P_{n+1} = f(1−f)P_n' with numpy.polynomial (exact integer coefs)."""
    p = np.polynomial.Polynomial([0, 1])
    w = np.polynomial.Polynomial([0, 1, -1])
    for _ in range(n):
        p = w * p.deriv()
    c = [int(round(v)) for v in p.coef]
    return c + [0] * (n + 2 - len(c))


def polyval(coefs, f):
    return sum(c * f ** k for k, c in enumerate(coefs))


# ---------------------------------------------------------------- references
def sig(x):
    return expit(x)


def tpgu_ref(x, b, **a):
    order = len(a) - 1
    f = sig(1.702 * b)
    d = x - b
    total = 0.0
    for i in range(order + 1):
        g_i = 1.702 ** i * polyval(sigmoid_poly_stirling(i), f) / math.factorial(i)
        total = total + a[f'a{i}'] * g_i * d ** i
    return x * total


def tpgu_taylor(b, order):
    """[g^(i)(b)/i!] for i = 0..order from the Stirling closed form."""
    f = sig(1.702 * b)
    return [1.702 ** i * polyval(sigmoid_poly_stirling(i), f) / math.factorial(i)
            for i in range(order + 1)]


def tpgu_param_grads(order):
    """Analytic per-element ∂y/∂a_i = x·G_i(b)·(x−b)^i and
    ∂y/∂b = x·Σ_i a_i·[(i+1)·G_{i+1}(b)·(x−b)^i − i·G_i(b)·(x−b)^(i−1)], G_i = g^(i)/i!."""
    def grad_a(i):
        return lambda x, b, **a: x * tpgu_taylor(b, order)[i] * (x - b) ** i

    def grad_b(x, b, **a):
        G = tpgu_taylor(b, order + 1)
        d = x - b
        total = 0.0
        for i in range(order + 1):
            term = (i + 1) * G[i + 1] * d ** i
            if i:
                term = term - i * G[i] * d ** (i - 1)
            total = total + a[f'a{i}'] * term
        return x * total
    out = {f'a{i}': grad_a(i) for i in range(order + 1)}
    out['b'] = grad_b
    return out


def acon_c_ref(x, p1, p2, beta):
    return (p1 - p2) * x * sig(beta * (p1 - p2) * x) + p2 * x


def golu_ref(x, alpha=1.0, beta=1.0, gamma=1.0):
    with np.errstate(over='ignore'):
        return x * alpha * np.exp(-beta * np.exp(-gamma * x))


def delu_ref(x, n=0.0):
    with np.errstate(over='ignore', invalid='ignore'):
        return np.where(x <= 0, x * sig(x), (n + 0.5) * x + np.abs(np.exp(-np.minimum(x, 700)) - 1))


def basis_ref(x):
    return [np.maximum(x, 0), sig(x), np.tanh(x), x / (1 + np.abs(x))]


def lincomb_ref(x, w):
    return sum(w[i] * f for i, f in enumerate(basis_ref(x)))


def normlincomb_ref(x, w):
    return lincomb_ref(x, w) / (np.sum(w, axis=0) + 1e-8)


REFS: Dict[str, Callable] = {
    'relu': lambda x: np.maximum(x, 0),
    'gelu': lambda x: 0.5 * x * (1 + erf(x / math.sqrt(2))),
    'gelu_tanh': lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))),
    'swish': lambda x: x * sig(x),
    'silu': lambda x: x * sig(x),
    'mish': lambda x: x * np.tanh(np.logaddexp(0, x)),
    'tpgu': tpgu_ref,
    'acon_a': lambda x, beta: x * sig(beta * x),
    'acon_b': lambda x, p, beta: acon_c_ref(x, 1.0, p, beta),
    'acon_c': acon_c_ref,
    'golu': golu_ref,
    'coslu': lambda x, a, b: sig(x) * (x + a * np.cos(b * x)),
    'sinlu': lambda x, a, b: sig(x) * (x + a * np.sin(b * x)),
    'delu': delu_ref,
    'helu': lambda x: delu_ref(x, 0.0),
    'lincomb': lincomb_ref,
    'normlincomb': normlincomb_ref,
    'relun': lambda x, n: np.minimum(np.maximum(x, 0), n),
    'scaledsoftsign': lambda x, alpha, beta: alpha * x / (beta + np.abs(x) + 1e-8),
    'shilu': lambda x, alpha, beta: alpha * np.maximum(x, 0) + beta,
}


# ---------------------------------------------------------------- harness
def weight_key(var) -> str:
    return var.name.split('/')[-1].split(':')[0]


def build_layer(name: str, settings: Optional[dict], params: Dict[str, np.ndarray], x: np.ndarray):
    """layers.get + build + assign the given parameter values (by weight name)."""
    layer = layers.get({'type': name, name: settings})
    layer.build(x.shape)
    by_name = {weight_key(v): v for v in layer.trainable_weights}
    assert set(params) == set(by_name), (sorted(params), sorted(by_name))
    for k, v in params.items():
        by_name[k].assign(np.broadcast_to(np.asarray(v, np.float32), by_name[k].shape))
    return layer, by_name


def tf_value_and_grads(layer, by_name, x: np.ndarray):
    xt = tf.constant(x, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt)
        total = tf.reduce_sum(tf.cast(y, tf.float32))
    names = sorted(by_name)
    grads = tape.gradient(total, [xt] + [by_name[k] for k in names])
    return y.numpy(), grads[0].numpy(), {k: g.numpy() for k, g in zip(names, grads[1:])}


def stencil(g: Callable) -> np.ndarray:
    """Five-point central difference numerator: g'(0)·h ≈ (−g(2) + 8g(1) − 8g(−1) + g(−2)) / 12."""
    return (-g(2.0) + 8 * g(1.0) - 8 * g(-1.0) + g(-2.0)) / 12.0


def check_case(name: str, ref: Callable, x: np.ndarray, settings: Optional[dict] = None,
               params: Optional[Dict[str, np.ndarray]] = None, ref_kwargs: Optional[dict] = None,
               rtol: float = 2e-5, grad_rtol: float = 2e-4,
               analytic: Optional[Dict[str, Callable]] = None, atol: float = 1e-6,
               grad_atol: float = 1e-5) -> None:
    """Value, input gradient and every parameter gradient of the layer vs the numpy reference.

    `params` are assigned to the layer's weights AND passed to `ref`; `ref_kwargs` are passed to
    `ref` only (fixed settings such as GoLU's α). Parameter gradients are checked against the
    central difference of Σ y; the tolerance scales with Σ |∂y_j/∂p| so float32 summation of
    terms of very different size is allowed for.
    """
    # Parameters as float32 values (what the layer holds), so the reference sees the same numbers.
    params = {k: np.asarray(v, np.float32).astype(np.float64) for k, v in (params or {}).items()}
    kw = dict(ref_kwargs or {})
    layer, by_name = build_layer(name, settings, params, x)
    y, dx, dp = tf_value_and_grads(layer, by_name, x)
    full = {k: np.broadcast_to(v, tuple(by_name[k].shape)).astype(np.float64) for k, v in params.items()}

    def f(xx, pp):
        return ref(xx, **pp, **kw)

    y_ref = f(x, full)
    tiny = 1e-30
    np.testing.assert_allclose(y, y_ref, rtol=rtol, atol=atol, err_msg=f'{name} value')
    h = 1e-6 * np.maximum(1.0, np.abs(x))
    dx_ref = stencil(lambda s: f(x + s * h, full)) / h
    np.testing.assert_allclose(dx, dx_ref, rtol=grad_rtol, atol=grad_atol, err_msg=f'{name} d/dx')
    for k, p in full.items():
        if analytic and k in analytic:  # per-element ∂y/∂p for a [C]-shaped p
            per_elem = analytic[k](x, **full)
            g_ref = per_elem.reshape(-1, p.shape[-1]).sum(axis=0)
            mag = np.abs(per_elem).reshape(-1, p.shape[-1]).sum(axis=0)
            np.testing.assert_array_less(
                np.abs(dp[k] - g_ref), grad_rtol * (np.abs(g_ref) + mag) + 1e-5,
                err_msg=f'{name} d/d{k}: got {dp[k]}, want {g_ref}')
            continue
        g_ref = np.zeros_like(p)
        mag = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            hp = 1e-6 * max(1.0, abs(p[idx]))

            def shifted(s):
                moved = {kk: vv.copy() for kk, vv in full.items()}
                moved[k][idx] += s * hp
                return f(x, moved)
            per_elem = stencil(shifted) / hp
            g_ref[idx] = per_elem.sum()
            mag[idx] = np.abs(per_elem).sum()
        np.testing.assert_array_less(
            np.abs(dp[k] - g_ref), grad_rtol * (np.abs(g_ref) + mag) + grad_atol + tiny,
            err_msg=f'{name} d/d{k}: got {dp[k]}, want {g_ref}')
