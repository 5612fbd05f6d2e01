"""TPGU — Taylor Polynomial Gated Unit (Zou, Liu, Dai 2024), any order n >= 0.

    y = x · P(x),   P(x) = Σ_{i=0..n} a_i · g^(i)(b) / i! · (x − b)^i,   g(t) = σ(1.702·t)

per channel, with weights a_0 … a_n and b of shape [C]. The authors' code hard-codes the
derivatives of σ for orders 0..8; here they come from the recurrence
P_0(f) = f, P_{n+1}(f) = f(1−f)·P_n'(f) (σ^(n)(t) = P_n(σ(t))), expanded in Python once per order.

Why the (f, 1−f) basis: expanding the recurrence in monomials f^k gives alternating coefficients up
to ~10^7 at order 10 that cancel badly in float32. Tracking f and g = 1 − f separately
(d f = f·g, d g = −f·g) gives the Eulerian-number form σ^(n) = Σ_k c_k f^(k+1) g^(n−k) with small
coefficients, and both f = σ(1.702 b) and g = σ(−1.702 b) are computed directly (no 1 − f
cancellation). This part only touches [C]-sized tensors; the per-element work is one Horner
evaluation in (x − b).
"""
import functools
import math
import numbers
from typing import Any, Dict, List, Optional, Sequence, Tuple

import tensorflow as tf
import tf_keras

from layers.base import ActivationLayer, serializable
from layers.fused import FusedActivation
from layers.registry import register

GATE_SCALE = 1.702  # g(t) = σ(1.702 t), the sigmoid approximation of GELU's Φ.


@functools.lru_cache(maxsize=None)
def sigmoid_derivative_terms(n: int) -> Tuple[Tuple[int, int, int], ...]:
    """Terms (coef, p, q) with σ^(n)(t) = Σ coef · f^p · g^q, f = σ(t), g = 1 − σ(t).

    Applies the recurrence P_{n+1} = f(1−f)·P_n' in the two-variable basis: the derivative of
    f^p g^q with respect to t is p·f^p·g^(q+1) − q·f^(p+1)·g^q.
    """
    if n < 0:
        raise ValueError(f'Derivative order must be >= 0; got {n}.')
    poly: Dict[Tuple[int, int], int] = {(1, 0): 1}
    for _ in range(n):
        nxt: Dict[Tuple[int, int], int] = {}
        for (p, q), c in poly.items():
            if p:
                nxt[(p, q + 1)] = nxt.get((p, q + 1), 0) + c * p
            if q:
                nxt[(p + 1, q)] = nxt.get((p + 1, q), 0) - c * q
        poly = {k: v for k, v in nxt.items() if v}
    return tuple((c, p, q) for (p, q), c in sorted(poly.items()))


def gate_taylor_coefficients(b: tf.Tensor, order: int) -> List[tf.Tensor]:
    """[g^(i)(b) / i! for i in 0..order], each shaped like b, computed in float32."""
    f = tf.sigmoid(GATE_SCALE * b)
    g = tf.sigmoid(-GATE_SCALE * b)
    f_pows = [tf.ones_like(f)]
    g_pows = [tf.ones_like(g)]
    for _ in range(order + 1):
        f_pows.append(f_pows[-1] * f)
        g_pows.append(g_pows[-1] * g)
    coeffs = []
    for i in range(order + 1):
        total = None
        for c, p, q in sigmoid_derivative_terms(i):
            term = float(c) * f_pows[p] * g_pows[q]
            total = term if total is None else total + term
        coeffs.append(total * (GATE_SCALE ** i / math.factorial(i)))
    return coeffs


def _tpgu_forward(x: tf.Tensor, k: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """x · P(x − b) with P's coefficients k [n + 1, C] (k_i = a_i g^(i)(b)/i!), by Horner."""
    order = k.shape[0] - 1
    if order == 0:
        return x * k[0]
    d = x - b
    p = k[order] * d + k[order - 1]
    for i in range(order - 2, -1, -1):
        p = p * d + k[i]
    return x * p


def _tpgu_backward(x: tf.Tensor, dy: tf.Tensor, k: tf.Tensor, b: tf.Tensor):
    """dx = dy·(P + x·P'); dk_i = Σ dy·x·d^i; b's direct part −Σ dy·x·P' (d = x − b).

    P and P' come from one Horner pass. b also enters k through g^(i)(b); that part of its
    gradient flows through the [C]-sized coefficient computation by autodiff, so b's gradient is
    exact.
    """
    order = k.shape[0] - 1
    w = dy * x
    if order == 0:
        return dy * k[0], [[w], None]
    d = x - b
    p = k[order] * d + k[order - 1]
    dp = k[order] + tf.zeros_like(d)
    for i in range(order - 2, -1, -1):
        dp = dp * d + p
        p = p * d + k[i]
    powers = [w]
    for _ in range(order):
        powers.append(powers[-1] * d)
    return dy * (p + x * dp), [powers, -(w * dp)]


_TPGU = FusedActivation('tpgu', _tpgu_forward, _tpgu_backward)


def tpgu(x: tf.Tensor, a: Sequence[tf.Tensor], b: tf.Tensor) -> tf.Tensor:
    """TPGU: x · Σ_i a_i g^(i)(b)/i! (x − b)^i, order = len(a) − 1, in x's dtype.

    a_i and b are float32 and broadcast over the last (channel) axis of x. The per-channel
    coefficients are formed here (autodiff handles these [C]-sized tensors); the per-element work
    is a `FusedActivation` that keeps only x for the backward pass (`layers.fused`).
    """
    order = len(a) - 1
    gate = gate_taylor_coefficients(b, order)
    k = tf.stack([a_i * c_i for a_i, c_i in zip(a, gate)])
    return _TPGU(x, k, b)


def _checked_order(order: Any) -> int:
    """`order` as an int; ValueError naming the value unless it is an integer >= 0.

    Why strict here, although configs are validated earlier: a layer built from Python (or from
    a config path that skipped validation) must never truncate 2.5 to 2 or read "3" / True as an
    order. Floats, even 3.0, are refused at this level; the exact conversion of an integral
    3.0 happens in `official_ext.configs.activations.tpgu_order`. NumPy integers are accepted.
    """
    if isinstance(order, bool) or not isinstance(order, numbers.Integral) or order < 0:
        raise ValueError(f'TPGU order must be an integer >= 0; got {order!r} '
                         f'({type(order).__name__}).')
    return int(order)


@serializable
@register('tpgu')
class TPGU(ActivationLayer):
    """Taylor Polynomial Gated Unit with per-channel weights `a0 … a{order}` and `b`.

    At initialisation (a_0 = 1, a_i ≈ 0, b = 0) TPGU ≈ 0.5·x. The math lives in the function
    `tpgu(x, a, b)`, whose per-element part has a hand-written gradient (`layers.fused`).

    Args:
      order: polynomial order n >= 0 (adds (n + 2)·C weights). One order per layer; per-stage
        orders (`orders` in the config) are resolved by the backbone.
      a_stddev: stddev of the TruncatedNormal initializer of a_1 … a_n (authors: 0.02).
        a_0 starts at 1 as in the authors' code.
      b_init: constant initial value of b (authors: 0).
      a_initializer, b_initializer: optional Keras initializer identifiers that replace the two
        settings above (Python use only; YAML configs use the float settings).
    """

    def __init__(self, order: int = 3, a_stddev: float = 0.02, b_init: float = 0.0,
                 a_initializer: Any = None, b_initializer: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.order = _checked_order(order)
        self.a_stddev = float(a_stddev)
        self.b_init = float(b_init)
        self.a_initializer = a_initializer
        self.b_initializer = b_initializer

    def build(self, input_shape) -> None:
        channels = self._channels(input_shape)
        a_init = (tf_keras.initializers.get(self.a_initializer) if self.a_initializer is not None
                  else tf_keras.initializers.TruncatedNormal(stddev=self.a_stddev))
        b_init = (tf_keras.initializers.get(self.b_initializer) if self.b_initializer is not None
                  else tf_keras.initializers.Constant(self.b_init))
        self.a = [self._add_param('a0', [channels], 'ones')]
        self.a += [self._add_param(f'a{i}', [channels], a_init) for i in range(1, self.order + 1)]
        self.b = self._add_param('b', [channels], b_init)
        super().build(input_shape)

    fused_input = True

    def _activate(self, x: tf.Tensor, training: Optional[bool]) -> tf.Tensor:
        return tpgu(x, self.a, self.b)

    def _settings(self) -> Dict[str, Any]:
        def ser(init):
            if init is None or isinstance(init, (str, dict)):
                return init
            return tf_keras.initializers.serialize(init)
        return {'order': self.order, 'a_stddev': self.a_stddev, 'b_init': self.b_init,
                'a_initializer': ser(self.a_initializer), 'b_initializer': ser(self.b_initializer)}
