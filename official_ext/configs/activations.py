"""Activation config: a Model Garden one-of with one settings dataclass per registered activation.

YAML example (in a backbone): `activation: {type: tpgu, tpgu: {orders: [7, 7, 7, 7]}}`.
Field names of each settings dataclass equal the layer's constructor arguments in `layers/`, so
`layers.get(config)` builds the layer directly; `tests/test_activation_config.py` checks that
every registered name has a field here and that the two stay in sync.

Why our own config: Model Garden's `norm_activation.activation` is a plain string resolved by
`tf_utils.get_activation`, which has no trainable or parameterised activations.
"""
import dataclasses
import numbers
from typing import Any, Dict, List, Optional

from official.modeling import hyperparams


@dataclasses.dataclass
class NoSettings(hyperparams.Config):
    """Activations without settings (relu, swish, silu, mish, helu)."""


@dataclasses.dataclass
class GELU(hyperparams.Config):
    approximate: bool = False  # False: exact erf GELU (the papers); True: tanh approximation.


@dataclasses.dataclass
class TPGU(hyperparams.Config):
    """TPGU settings. `orders` (one per backbone stage) wins over `order` when non-empty."""
    order: int = 3
    orders: List[int] = dataclasses.field(default_factory=list)
    a_stddev: float = 0.02
    b_init: float = 0.0


@dataclasses.dataclass
class AconA(hyperparams.Config):
    beta_init: float = 1.0


@dataclasses.dataclass
class AconBC(hyperparams.Config):
    p_stddev: float = 1.0
    beta_init: float = 1.0


@dataclasses.dataclass
class MetaAcon(hyperparams.Config):
    r: int = 16
    use_bn: bool = True
    p_stddev: float = 1.0
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5


@dataclasses.dataclass
class AconFReLU(hyperparams.Config):
    """ACON-FReLU's BatchNorms (its stride is TFNet's, set by the backbone, not here)."""
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5


@dataclasses.dataclass
class GoLU(hyperparams.Config):
    """GoLU α, β, γ; `learnable: true` turns them into trainable scalars (default fixed)."""
    alpha: float = 1.0
    beta: float = 1.0
    gamma: float = 1.0
    learnable: bool = False


@dataclasses.dataclass
class SinCosLU(hyperparams.Config):
    a_init: float = 1.0
    b_init: float = 1.0
    per_channel: bool = False


@dataclasses.dataclass
class NParam(hyperparams.Config):
    """DELU (n_init 0) and ReLUN (n_init 1)."""
    n_init: float = 0.0
    per_channel: bool = False


@dataclasses.dataclass
class ReLUN(NParam):
    n_init: float = 1.0


@dataclasses.dataclass
class LinComb(hyperparams.Config):
    w_init: float = 0.25  # all four weights (relu, sigmoid, tanh, softsign)
    per_channel: bool = False


@dataclasses.dataclass
class AlphaBeta(hyperparams.Config):
    """ScaledSoftSign and ShiLU."""
    alpha_init: float = 1.0
    beta_init: float = 1.0
    per_channel: bool = False


def _f(cls):
    return dataclasses.field(default_factory=cls)


@dataclasses.dataclass
class Activation(hyperparams.OneOfConfig):
    """Which activation, and its settings. `type` is one of `layers.names()`."""
    type: Optional[str] = 'gelu'
    relu: NoSettings = _f(NoSettings)
    gelu: GELU = _f(GELU)
    swish: NoSettings = _f(NoSettings)
    silu: NoSettings = _f(NoSettings)
    mish: NoSettings = _f(NoSettings)
    tpgu: TPGU = _f(TPGU)
    acon_a: AconA = _f(AconA)
    acon_b: AconBC = _f(AconBC)
    acon_c: AconBC = _f(AconBC)
    meta_acon: MetaAcon = _f(MetaAcon)
    acon_frelu: AconFReLU = _f(AconFReLU)
    golu: GoLU = _f(GoLU)
    coslu: SinCosLU = _f(SinCosLU)
    sinlu: SinCosLU = _f(SinCosLU)
    delu: NParam = _f(NParam)
    helu: NoSettings = _f(NoSettings)
    lincomb: LinComb = _f(LinComb)
    normlincomb: LinComb = _f(LinComb)
    relun: ReLUN = _f(ReLUN)
    scaledsoftsign: AlphaBeta = _f(AlphaBeta)
    shilu: AlphaBeta = _f(AlphaBeta)


def default_activation(name: str) -> Activation:
    """`Activation(type=name)` with default settings; for `dataclasses.field(default_factory=...)`.

    Raises ValueError for a name without a field here (lists the valid ones).
    """
    if not hasattr(Activation(), name) or name == 'type':
        valid = sorted(f.name for f in dataclasses.fields(Activation) if f.name != 'type')
        raise ValueError(f'Unknown activation {name!r}; valid: {", ".join(valid)}.')
    return Activation(type=name)


def stage_specs(activation: Activation, num_stages: int) -> List[Dict[str, Any]]:
    """One `layers.get` spec per backbone stage.

    TPGU: `orders` when non-empty (its length must equal `num_stages`), else `order` for every
    stage. Every other activation: the same spec for every stage. Each spec is a fresh dict
    `{'type': name, name: settings}` without `orders`.

    Raises:
      ValueError: unknown type, `orders` of the wrong length, or an order that `tpgu_order`
        rejects (never truncated: 2.5 must not silently build order 2).
    """
    if isinstance(activation, dict):
        activation = Activation(activation)
    name = activation.type
    if name is None or not hasattr(activation, name) or name == 'type':
        valid = sorted(f.name for f in dataclasses.fields(Activation) if f.name != 'type')
        raise ValueError(f'Unknown activation type {name!r}; set `type` to one of: {", ".join(valid)}.')
    settings = getattr(activation, name).as_dict()
    if name != 'tpgu':
        return [{'type': name, name: dict(settings)} for _ in range(num_stages)]
    orders = list(settings.pop('orders', None) or [])
    per_stage = bool(orders)
    if not orders:
        orders = [settings['order']] * num_stages
    elif len(orders) != num_stages:
        raise ValueError(
            f'activation.tpgu.orders has {len(orders)} entries ({orders}) but the backbone has '
            f'{num_stages} stages. Give exactly one order per stage (e.g. '
            f'orders: {[orders[0]] * num_stages}), or leave `orders` empty and set `order`.')
    specs = []
    for stage, order in enumerate(orders):
        try:
            value = tpgu_order(order)
        except ValueError as e:
            where = (f'orders[{stage}] = {order!r} (stage {stage + 1})' if per_stage
                     else f'order = {order!r} (every stage)')
            raise ValueError(f'activation.tpgu.{where}: {e}') from e
        s = dict(settings)
        s['order'] = value
        specs.append({'type': 'tpgu', 'tpgu': s})
    return specs


def tpgu_order(value: Any) -> int:
    """Returns the TPGU order `value` as an int, or raises ValueError saying why it is not one.

    Why a rule of its own: `int(value)` would turn 2.5 into 2 and "3" into 3, so a config could
    build a different network from the one its params.yaml records. Accepted: Python and NumPy
    integers, and floats with an integral value such as 3.0 (YAML `3.0`); converting those is
    exact, so the layer gets the order the config names. Rejected: bool (an int subclass in
    Python, but `true` is no order), fractional or non-finite floats, strings, None, negatives.
    `official_ext.validate` applies the same rule to the parsed config, with the config path.
    """
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, float)):
        raise ValueError(f'TPGU order must be an integer >= 0; got {value!r} '
                         f'({type(value).__name__}).')
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(f'TPGU order must be an integer >= 0; got {value!r} (not a whole '
                         'number; int() would truncate it).')
    order = int(value)
    if order < 0:
        raise ValueError(f'TPGU order must be an integer >= 0; got {value!r}.')
    return order
