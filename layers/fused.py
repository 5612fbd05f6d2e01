"""Elementwise activations with hand-written gradients and compiled, fused bodies.

Why: autodiff through a formula such as TPGU's Horner loop keeps one activation-sized tensor per
operation for the backward pass and runs one memory pass per operation. TPGU{7,7,7,7} cost 1.70x
GELU's ConvNeXt-T training step and 1.76x its memory that way (issue 11). A `FusedActivation`
instead

  * keeps only its input (in the compute dtype: half the bytes under mixed precision) and its
    parameters for the backward pass, and recomputes what it needs there
    (`tf.custom_gradient`);
  * computes the input gradient and every parameter gradient in one backward function, with the
    per-parameter reductions over the batch/spatial axes done as one fused tree of adds
    (`_sum_to_channels`): K slices of the rows are added elementwise (which XLA fuses with the
    producing arithmetic) and only the K-times smaller remainder goes through a reduction;
    XLA:CPU's plain column reductions of a fused product run at a fraction of memory speed;
  * runs the forward and backward functions as XLA clusters (`tf.function(jit_compile=True)`)
    when the surrounding step is not compiled, so each becomes one loop over memory. Only the
    activation is compiled: XLA's CPU convolutions are several times slower than TensorFlow's,
    so compiling the whole model would lose more than it wins (bench/train_step.py measures
    both). Inside an XLA computation (TPU, or a `jit_compile` step on GPU/CPU) the functions
    are inlined and XLA fuses them with their neighbours.

Numbers (bench/activations.py, docs/benchmarks.md): TPGU order 7 per call site went from 3.9x
GELU's forward+backward time to about 1.0x.

Each family module supplies `forward(x, *params) -> y` and `backward(x, dy, *params) ->
(dx, grads)` on float32 tensors; `grads` holds, per parameter, an input-shaped tensor (the
elementwise derivative times dy), a list of them (one per leading row of a stacked parameter such
as TPGU's [n + 1, C] coefficients), or None (a constant). This module reduces them to the
parameter shapes.
"""
import numbers
import os
from typing import Callable, List, Optional, Sequence, Tuple, Union

import tensorflow as tf
from tensorflow.python.ops import control_flow_util  # pylint: disable=g-direct-tensorflow-import

Grad = Union[None, tf.Tensor, List[tf.Tensor]]
Forward = Callable[..., tf.Tensor]
Backward = Callable[..., Tuple[tf.Tensor, Sequence[Grad]]]

# Rows added elementwise before the reduction proper (measured best of 4/8/16/32 on CPU).
TREE_SLICES = 8

# `ACT_FUSED=0` runs every activation through plain autodiff of its forward formula (debugging
# aid and the reference the fused gradients are tested against); `ACT_FUSED_XLA=0` keeps the
# hand-written gradients but does not compile them.
_ENABLED = os.environ.get('ACT_FUSED', '1') != '0'
_COMPILE = os.environ.get('ACT_FUSED_XLA', '1') != '0'


def _in_xla_context() -> bool:
    """True while tracing inside a computation XLA compiles whole (TPU, jit_compile steps)."""
    graph = tf.compat.v1.get_default_graph()
    return bool(control_flow_util.GraphOrParentsInXlaContext(graph))


def _sum_to_channels(terms: List[tf.Tensor], tree: bool = True) -> tf.Tensor:
    """[len(terms), C]: each term [..., C] summed over every axis but the last.

    With `tree` (code XLA compiles) and a static row count divisible by TREE_SLICES, the rows
    are cut into that many slices that are added elementwise first (fused with the terms'
    arithmetic), leaving a reduction over 1/TREE_SLICES of the rows; otherwise a plain
    reduction (TensorFlow's own kernel is the faster one outside XLA).
    """
    channels = terms[0].shape[-1]
    rows = terms[0].shape[:-1].num_elements()
    if tree and rows is not None and rows % TREE_SLICES == 0 and rows >= TREE_SLICES:
        partial = []
        for t in terms:
            sliced = tf.reshape(t, [TREE_SLICES, rows // TREE_SLICES, channels])
            partial.append(tf.add_n([sliced[j] for j in range(TREE_SLICES)]))
        return tf.reduce_sum(tf.stack(partial), axis=1)
    axes = list(range(terms[0].shape.rank - 1))
    return tf.stack([tf.reduce_sum(t, axis=axes) for t in terms])


def _reduce_to(terms: List[tf.Tensor], shape: tf.TensorShape, x_shape: tf.TensorShape,
               tree: bool) -> tf.Tensor:
    """Sums input-shaped `terms` to one parameter slice of `shape` each; stacked on axis 0."""
    rank = shape.rank
    if rank == 0 or (rank == 1 and shape[0] == x_shape[-1]):
        per_channel = _sum_to_channels(terms, tree)
        return per_channel if rank == 1 else tf.reduce_sum(per_channel, axis=1)
    per_sample = (rank == x_shape.rank and rank >= 3 and shape[-1] == x_shape[-1]
                  and all(d == 1 for d in shape[1:-1]))
    inner = x_shape[1:-1].num_elements()
    if per_sample and tree and inner is not None and inner % TREE_SLICES == 0:
        # Meta-ACON's per-sample β [B, 1, 1, C]: the tree over each sample's rows.
        out = []
        for t in terms:
            sliced = tf.reshape(t, [-1, TREE_SLICES, inner // TREE_SLICES, shape[-1]])
            partial = tf.add_n([sliced[:, j] for j in range(TREE_SLICES)])
            out.append(tf.reshape(tf.reduce_sum(partial, axis=1),
                                  [-1] + [1] * (rank - 2) + [shape[-1]]))
        return tf.stack(out)
    # A parameter broadcast over some axes only (per-sample β without a static tree).
    offset = x_shape.rank - rank
    axes = [offset + i for i in range(rank) if shape[i] == 1 and x_shape[offset + i] != 1]
    lead = list(range(offset))
    out = []
    for t in terms:
        t = tf.reduce_sum(t, axis=lead) if lead else t
        out.append(tf.reduce_sum(t, axis=[a - offset for a in axes], keepdims=True)
                   if axes else t)
    return tf.stack(out)


class FusedActivation:
    """An elementwise activation f(x; params) with a hand-written, compiled gradient.

    Call it with the input in any float dtype and parameters (float32 tensors or variables, or
    Python numbers for constants) that broadcast against the input's trailing axes; it returns
    f(x) in the input's dtype, computed in float32. The gradient returned for x has x's dtype; parameter gradients
    are float32 and shaped like the parameters.

    Args:
      name: used for the compiled functions' names.
      forward: f(x32, *params32) -> y32.
      backward: (x32, dy32, *params32) -> (dx32, grads), see the module docstring.
      compile: compile the two functions with XLA when the surrounding step is not compiled.
        False where XLA:CPU's elementwise code is slower than TensorFlow's kernels (measured
        per function with bench/activations.py); the functions are then run as ordinary ops,
        still keeping only the input for the backward pass.
      outside: optional (x32, *params32, grad: bool) -> tuple of input-shaped tensors that
        TensorFlow computes before each compiled function and passes to it after the
        parameters: the place for elementwise functions XLA:CPU evaluates slowly (its sin/cos
        ran 4-5x slower than TensorFlow's). Recomputed in the backward pass, never kept.
    """

    def __init__(self, name: str, forward: Forward, backward: Backward,
                 compile: bool = True,  # pylint: disable=redefined-builtin
                 outside: Optional[Callable[..., Tuple[tf.Tensor, ...]]] = None) -> None:
        self.name = name
        self.forward = forward
        self.backward = backward
        self.compile = compile
        self.outside = outside
        self._jit_forward = tf.function(self._forward_cast, jit_compile=True,
                                        autograph=False)
        self._jit_backward = tf.function(self._backward_cast, jit_compile=True,
                                         autograph=False)

    # -- the two functions, with the casts and reductions -----------------------------------
    def _extras(self, x: tf.Tensor, params: Sequence, grad: bool) -> Tuple[tf.Tensor, ...]:
        if self.outside is None:
            return ()
        return tuple(self.outside(tf.cast(x, tf.float32), *params, grad=grad))

    def _forward_cast(self, x: tf.Tensor, extras: Tuple[tf.Tensor, ...], *params) -> tf.Tensor:
        return tf.cast(self.forward(tf.cast(x, tf.float32), *params, *extras), x.dtype)

    def _backward_cast(self, x: tf.Tensor, dy: tf.Tensor, extras: Tuple[tf.Tensor, ...],
                       *params) -> List[Optional[tf.Tensor]]:
        """[dx] + one gradient per tensor parameter (Python-number parameters get none)."""
        tree = self._compiled()
        x32 = tf.cast(x, tf.float32)
        dx, grads = self.backward(x32, tf.cast(dy, tf.float32), *params, *extras)
        out = [tf.cast(dx, x.dtype)]
        for p, g in zip(params, grads):
            if _is_constant(p):
                continue
            if g is None:
                out.append(tf.zeros_like(p))
            elif isinstance(g, (list, tuple)):
                out.append(_reduce_to(list(g), p.shape[1:], x.shape, tree))
            else:
                out.append(_reduce_to([g], p.shape, x.shape, tree)[0])
        return out

    def _compiled(self) -> bool:
        """Whether the code being traced ends up in an XLA computation."""
        return _in_xla_context() or (_COMPILE and self.compile)

    def _run(self, compiled, plain, *args):
        if _COMPILE and self.compile and not _in_xla_context():
            return compiled(*args)
        return plain(*args)

    # -- public -------------------------------------------------------------------------------
    def __call__(self, x: tf.Tensor, *params) -> tf.Tensor:
        """f(x) in x's dtype. Python-number parameters are constants: compiled into the
        functions (one trace per value) and given no gradient; the others become float32."""
        params = [p if _is_constant(p) else tf.convert_to_tensor(p, tf.float32) for p in params]
        if not _ENABLED:
            return self._forward_cast(x, self._extras(x, params, False), *params)
        slots = [i for i, p in enumerate(params) if not _is_constant(p)]

        def merged(tensors):
            full = list(params)
            for i, t in zip(slots, tensors):
                full[i] = t
            return full

        @tf.custom_gradient
        def op(x, *tensors):
            full = merged(tensors)
            y = self._run(self._jit_forward, self._forward_cast, x,
                          self._extras(x, full, False), *full)

            def grad(dy):
                return self._run(self._jit_backward, self._backward_cast, x, dy,
                                 self._extras(x, full, True), *full)
            return y, grad
        return op(x, *[params[i] for i in slots])

    def reference(self, x: tf.Tensor, *params) -> tf.Tensor:
        """The forward formula without the hand-written gradient (autodiff differentiates it)."""
        params = [p if _is_constant(p) else tf.convert_to_tensor(p, tf.float32) for p in params]
        return self._forward_cast(x, self._extras(x, params, False), *params)


def _is_constant(p) -> bool:
    return isinstance(p, numbers.Real) and not isinstance(p, bool)


def enabled() -> bool:
    """Whether activations use their hand-written gradients (env `ACT_FUSED`, default on)."""
    return _ENABLED


def set_mode(fused: Optional[bool] = None, compiled: Optional[bool] = None) -> None:
    """Switches the hand-written gradients / their compilation (benchmarks and tests)."""
    global _ENABLED, _COMPILE
    if fused is not None:
        _ENABLED = bool(fused)
    if compiled is not None:
        _COMPILE = bool(compiled)
