"""Every reference op's backward as a rule of differentiable reference ops.

``backward(create_graph=True)`` sweeps the graph with these rules (grad
mode on), so the gradients it produces are themselves recorded and can be
differentiated again. Each rule is the formula of its op's numeric backward
in ops.py, written with Tensors; piecewise-constant local derivatives
(relu, abs, clamp, max routing) enter as constants.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from pygrad import _engines

from . import ops
from .autograd import Node, VersionCounter, enable_grad
from .functional import where
from .tensor import Tensor, scatter_add

Rule = Callable[[Node, Tensor], Sequence[Any]]


def _const(a: Any, dtype: Any) -> Tensor:
    return Tensor._wrap(np.array(a, dtype=dtype), VersionCounter())


def _output(node: Node) -> Tensor:
    """The saved output as a differentiable tensor (its grad_fn is the node)."""
    y = Tensor._wrap(node.saved_output, VersionCounter())
    y._node = node
    y._requires_grad = True
    return y


def _sum_to(g: Tensor, shape: tuple[int, ...]) -> Tensor:
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1)
    return g.sum(axis=axes, keepdims=True).reshape(shape)


def _local(node: Node) -> Tensor:
    """A piecewise-linear op's local derivative: its numeric backward of ones."""
    out_shape = node.saved_output.shape if node.saved_output is not None else None
    if out_shape is None:
        out_shape = np.broadcast_shapes(*node.op.in_shapes) if len(node.op.in_shapes) > 1 else node.op.in_shapes[0]
        if isinstance(node.op, ops.Reduction):
            out_shape = _reduced_shape(node.op)
    ones = np.ones(out_shape, dtype=node.op.in_dtypes[0])
    return _const(node.op.backward(ones, node.saved_inputs, node.saved_output)[0], node.op.in_dtypes[0])


def _reduced_shape(op: ops.Reduction) -> tuple[int, ...]:
    shape = op.in_shapes[0]
    return tuple(1 if i in op.axes else s for i, s in enumerate(shape) if op.keepdims or i not in op.axes)


def _binary(node: Node, g: Tensor) -> list[Any]:
    a, b = node.inputs
    op = node.op
    out: list[Any] = []
    for i, x in enumerate((a, b)):
        if not node.needs[i]:
            out.append(None)
            continue
        if isinstance(op, ops.Add):
            full = g
        elif isinstance(op, ops.Sub):
            full = g if i == 0 else -g
        elif isinstance(op, ops.Mul):
            full = g * (b if i == 0 else a)
        elif isinstance(op, ops.Div):
            full = g / b if i == 0 else -((g * a) / (b * b))
        elif isinstance(op, ops.Atan2):
            q = (g * (b if i == 0 else a)) / (a * a + b * b)
            full = q if i == 0 else -q
        elif isinstance(op, (ops.Fmod, ops.Remainder)):
            if i == 0:
                full = g
            else:
                av, bv = np.broadcast_arrays(a.numpy(), b.numpy())
                with np.errstate(all="ignore"):
                    q = np.trunc(av / bv) if isinstance(op, ops.Fmod) else np.floor_divide(av, bv)
                full = -(g * _const(q, g.dtype))
        elif isinstance(op, ops.FloorDivide):
            full = g * 0.0
        elif isinstance(op, ops.Pow):
            zero = _const(0.0, g.dtype)
            if i == 0:
                full = where(b.numpy() == 0, zero, (g * b) * (a ** (b - 1.0)))
            else:
                edge = (a.numpy() == 0) & (b.numpy() >= 0)
                full = where(edge, zero, (g * (a ** b)) * a.log())
        else:  # maximum / minimum: route with a constant mask
            av, bv = np.broadcast_arrays(a.numpy(), b.numpy())
            first = av > bv if isinstance(op, ops.Maximum) else av < bv
            win = first if i == 0 else ((bv > av) if isinstance(op, ops.Maximum) else (bv < av))
            mask = np.where(win, 1.0, np.where(av == bv, 0.5, 0.0))
            full = g * _const(mask, g.dtype)
        out.append(_sum_to(full, x.shape))
    return out


def _unary(node: Node, g: Tensor) -> list[Any]:
    op, x = node.op, node.inputs[0]
    rule = getattr(op, "rule", None)
    if rule is not None:  # an elementwise op carries its own rule, beside its backward in ops.py
        return [rule(g, x, _output(node) if op.save_output else None)]
    if isinstance(op, ops.Neg):
        r = -g
    elif isinstance(op, ops.AddScalar):
        r = g
    elif isinstance(op, ops.MulScalar):
        r = g * op.c
    elif isinstance(op, ops.PowScalar):
        r = _const(np.zeros(x.shape), x.dtype) if op.p == 0 else g * ((x ** (op.p - 1.0)) * op.p)
    elif isinstance(op, ops.DivScalar):
        r = g / op.c
    elif isinstance(op, ops.RDivScalar):
        r = -(g * (_output(node) / x))
    elif isinstance(op, ops.RPowScalar):
        with np.errstate(divide="ignore", invalid="ignore"):
            log_c = float(np.log(x.dtype.type(op.c)))  # in x's dtype, as the kernel
        r = (g * _output(node)) * log_c
        if op.c == 0:
            r = where(x.numpy() >= 0, _const(0.0, g.dtype), r)
    elif isinstance(op, ops.Sqrt):
        r = g / (_output(node) * 2.0)
    elif isinstance(op, ops.Reciprocal):
        y = _output(node)
        r = -(g * (y * y))
    elif isinstance(op, ops.Sigmoid):
        y = _output(node)
        r = g * (y * (1.0 - y))
    elif isinstance(op, ops.Tanh):
        y = _output(node)
        r = g * (1.0 - y * y)
    elif isinstance(op, ops.Elu):
        r = g * where(x.numpy() > 0, _const(1.0, x.dtype), x.exp() * op.alpha)
    elif isinstance(op, ops.Cast):
        r = g.astype(op.in_dtypes[0])
    else:  # abs, relu, leaky_relu, clamp, hardtanh
        r = g * _local(node)
    return [r]


def _where(node: Node, g: Tensor) -> list[Any]:
    cond, x, y = node.inputs
    zero = _const(0.0, g.dtype)
    return [None,
            _sum_to(where(cond, g, zero), x.shape) if node.needs[1] else None,
            _sum_to(where(cond, zero, g), y.shape) if node.needs[2] else None]


def _swap_last2(t: Tensor) -> Tensor:
    perm = list(range(t.ndim))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    return t.permute(*perm)


def _matmul(node: Node, g: Tensor) -> list[Any]:
    a, b = node.inputs
    a2 = a.reshape(1, a.shape[0]) if a.ndim == 1 else a
    b2 = b.reshape(b.shape[0], 1) if b.ndim == 1 else b
    gshape = list(g.shape)
    if a.ndim == 1:
        gshape.insert(len(gshape) - (0 if b.ndim == 1 else 1), 1)
    if b.ndim == 1:
        gshape.append(1)
    g2 = g.reshape(*gshape)
    da = _sum_to(g2 @ _swap_last2(b2), a2.shape).reshape(a.shape) if node.needs[0] else None
    db = _sum_to(_swap_last2(a2) @ g2, b2.shape).reshape(b.shape) if node.needs[1] else None
    return [da, db]


def _reduce(node: Node, g: Tensor) -> list[Any]:
    op = node.op
    shape = op.in_shapes[0]
    keep = tuple(1 if i in op.axes else s for i, s in enumerate(shape))
    full = _const(np.zeros(shape), g.dtype) + g.reshape(*keep)
    if isinstance(op, ops.Mean):
        count = int(np.prod([shape[i] for i in op.axes], dtype=np.int64))
        return [full / _const(float(count), g.dtype)]
    if isinstance(op, ops.Sum):
        return [full]
    return [full * _local(node)]


def _shape(node: Node, g: Tensor) -> list[Any]:
    op = node.op
    in_shape = op.in_shapes[0]
    if isinstance(op, ops.Reshape):
        return [g.reshape(*in_shape)]
    if isinstance(op, ops.Permute):
        inv = np.argsort(op.perm)
        return [g.permute(*[int(i) for i in inv])]
    if isinstance(op, ops.GetItem):
        offsets = np.arange(int(np.prod(in_shape, dtype=np.int64))).reshape(in_shape)[op.key]
        return [scatter_add(g, in_shape, offsets)]
    # scatter_add: gather
    return [g.reshape(-1)[op.offsets].reshape(*in_shape)]


def _cat(node: Node, g: Tensor) -> list[Any]:
    op = node.op
    out, start = [], 0
    for shape, need in zip(op.in_shapes, node.needs):
        if isinstance(op, ops.Stack):
            idx: list[Any] = [slice(None)] * op.axis + [start]
            start += 1
        else:
            idx = [slice(None)] * op.axis + [slice(start, start + shape[op.axis])]
            start += shape[op.axis]
        out.append(g[tuple(idx)] if need else None)
    return out


def _softmax(node: Node, g: Tensor) -> list[Any]:
    y = _output(node)
    axis = node.op.axis
    if isinstance(node.op, ops.Softmax):
        return [y * (g - (g * y).sum(axis=axis, keepdims=True))]
    return [g - y.exp() * g.sum(axis=axis, keepdims=True)]


def _logsumexp(node: Node, g: Tensor) -> list[Any]:
    """g·exp(x - y), y the differentiable output."""
    op = node.op
    keep = tuple(1 if i in op.axes else s for i, s in enumerate(op.in_shapes[0]))
    return [g.reshape(*keep) * (node.inputs[0] - _output(node).reshape(*keep)).exp()]


def _cumsum(node: Node, g: Tensor) -> list[Any]:
    """The running sum of g the other way."""
    return [g._cumsum(node.op.axis, not node.op.reverse)]


def _cumprod(node: Node, g: Tensor) -> list[Any]:
    """dx = y_{i-1}·r, r_i = g_i + x_{i+1}·r_{i+1} run as a scan of its affine steps r_i = B_i + A_i·r_{i+s} in
    ⌈log₂ n⌉ doublings (B ← B + A·B₊ₛ, A ← A·A₊ₛ; ₊ₛ: shifted by s towards the start, zeros in), no division."""
    op = node.op
    shape = op.in_shapes[0]
    n = shape[op.axis] if shape else 1
    if n <= 1:
        return [g * 1.0]

    def shift(t: Tensor, lo: int, value: float = 0.0) -> Tensor:
        pads = [0] * len(shape)
        ends = [0] * len(shape)
        pads[op.axis], ends[op.axis] = lo, -lo
        return t._pad(pads, ends, value)

    a, b, s = shift(node.inputs[0], -1), g, 1
    while s < n:
        b = b + a * shift(b, -s)
        if 2 * s < n:
            a = a * shift(a, -s)
        s *= 2
    return [shift(_output(node), 1, 1.0) * b]


def _pad(node: Node, g: Tensor) -> list[Any]:
    """The crop back: pad(g, -lo, -hi, 0), itself a pad."""
    return [g._pad([-v for v in node.op.lo], [-v for v in node.op.hi], 0.0)]


def _tri(node: Node, g: Tensor) -> list[Any]:
    """The same op on g (self-adjoint)."""
    return [g._tri(node.op.diagonal, node.op.upper)]


def _index_map(node: Node, g: Tensor) -> list[Any]:
    """Its adjoint: a scatter-add at the flat offsets it read."""
    return [scatter_add(g, node.op.in_shapes[0], node.op.offsets())]


def _conv(node: Node, g: Tensor) -> list[Any]:
    """Each conv op's backward made of the three conv ops (each the others' adjoint)."""
    op = node.op
    a, b = node.inputs
    args = (op.stride, op.padding, op.dilation, op.groups)
    if isinstance(op, ops.Conv2d):  # y = conv(x, w)
        return [g._conv2d_input_grad(b, a.shape[2:], *args), a._conv2d_weight_grad(g, b.shape[2:], *args)]
    if isinstance(op, ops.Conv2dInputGrad):  # y = conv_t(gy, w)
        return [g._conv2d(b, *args), g._conv2d_weight_grad(a, b.shape[2:], *args)]
    return [b._conv2d_input_grad(g, a.shape[2:], *args), a._conv2d(g, *args)]  # y = conv_w(x, gy)



def _norm(node: Node, g: Tensor) -> list[Any]:
    """The normalisations' backward (ops._Norm) made of ops: in training mean and rstd are recomputed
    from x (they depend on it), in eval they are the running statistics (constants)."""
    op = node.op
    x, w, _ = node.inputs
    a, v = op.views(tuple(x.shape))
    xv = x.reshape(*v)
    if op.training:
        mean = xv.mean(axis=op.axes, keepdims=True)
        rstd = ((xv - mean).square().mean(axis=op.axes, keepdims=True) + op.eps).rsqrt()
    else:
        mean = _const(op.mean, x.dtype)
        rstd = _const(1 / np.sqrt(op.var + op.eps), x.dtype)
    xhat = (xv - mean) * rstd
    ga = g.reshape(*a)
    dw = (ga * xhat.reshape(*a)).sum(axis=(0, 2)).reshape(*w.shape)
    db = ga.sum(axis=(0, 2)).reshape(*w.shape)
    dxh = (ga * w.reshape(1, a[1], 1)).reshape(*v)
    if op.training:
        dx = rstd * (dxh - dxh.mean(axis=op.axes, keepdims=True)
                     - xhat * (dxh * xhat).mean(axis=op.axes, keepdims=True))
    else:
        dx = dxh * rstd
    return [dx.reshape(*x.shape), dw, db]


def _no_grad(node: Node, g: Tensor) -> list[Any]:
    """random, bernoulli, one_hot: no gradient reaches their input."""
    return [None]


def _dropout(node: Node, g: Tensor) -> list[Any]:
    """dropout is linear in x: its backward is dropout of g with the same seed."""
    return [g._dropout_seeded(node.op.p, node.op.seed)]


def _embedding(node: Node, g: Tensor) -> list[Any]:
    """dw = scatter_add(g · keep, (V, D), idx·D + k), keep zero on the padding rows (and 1 / count(v)
    elsewhere with scale_grad_by_freq: then sg(g·keep) + (g·pad − sg(g·pad)), whose derivative in g is
    the unscaled gather, as ops_embedding.c explains)."""
    op = node.op
    v, d = op.in_shapes[0]
    flat = op.indices.reshape(-1)
    off = (flat[:, None] * d + np.arange(d, dtype=np.int64)[None, :]).reshape(-1)

    def times(factors: np.ndarray) -> Tensor:
        f = np.broadcast_to(factors.astype(g.dtype)[:, None], (flat.size, d))
        return g * Tensor._wrap(np.ascontiguousarray(f.reshape(g.shape)))

    if op.scale_grad_by_freq:
        gp = times((flat != op.padding_idx).astype(np.float64))
        g = times(op.row_factors(np.dtype(g.dtype))).detach() + (gp - gp.detach())
    elif (flat == op.padding_idx).any():
        g = times(op.row_factors(np.dtype(g.dtype)))
    return [scatter_add(g.reshape(-1), (v, d), off)]


def _sdpa(node: Node, g: Tensor) -> list[Any]:
    """The fused backward made of ops: s = scale q kᵀ + bias, p = softmax(s), p̃ = dropout(p) (the op's
    seed; p without dropout), dv = p̃ᵀ g, dp = dropout(g vᵀ), ds = p (dp − Σⱼ dp p), dq = scale ds k,
    dk = scale dsᵀ q, dbias = ds summed to bias's shape."""
    op = node.op
    q, k, v, bias = node.inputs
    s = q.matmul(k.transpose(-1, -2)) * op.scale + bias
    if op.causal:
        lq, lk = s.shape[-2:]
        causal = np.where(np.arange(lk)[None, :] > np.arange(lq)[:, None], -np.inf, 0.0).astype(q.dtype)
        s = s + Tensor._wrap(causal)
    live = np.isfinite(s.numpy()).any(axis=-1, keepdims=True) | np.isnan(s.numpy()).any(axis=-1, keepdims=True)
    if not live.all():  # rows with no key taking part: s = 0 there, then p = 0 (the forward's zeros)
        keep = Tensor._wrap(np.ascontiguousarray(live))
        zero = Tensor._wrap(np.zeros((), dtype=s.dtype))
        p = where(keep, where(keep, s, zero).softmax(-1), zero)
    else:
        p = s.softmax(-1)
    drop = op.drop
    pd = p if drop is None else p._dropout_seeded(drop.p, drop.seed)
    dv = pd.transpose(-1, -2).matmul(g)
    dp = g.matmul(v.transpose(-1, -2))
    if drop is not None:
        dp = dp._dropout_seeded(drop.p, drop.seed)
    ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True))
    dq = ds.matmul(k) * op.scale
    dk = ds.transpose(-1, -2).matmul(q) * op.scale
    dbias = ds if bias.ndim else ds.sum()
    return [dq, dk, dv, dbias]


def _max_pool(node: Node, g: Tensor) -> list[Any]:
    """dx = scatter_add(g, x's shape, plane·H·W + argmax): its own rule is the gather back."""
    x = node.inputs[0]
    n, c, h, w = x.shape
    idx = node.op.argmax(x.numpy())[1].reshape(n * c, g.shape[2] * g.shape[3])
    empty = idx < 0
    off = (np.where(empty, 0, idx) + (np.arange(n * c) * (h * w))[:, None]).reshape(-1)
    if empty.any():  # a window with nothing inside the input sends its gradient nowhere
        g = g * Tensor(np.where(empty, 0, 1).reshape(g.shape).astype(g.dtype))
    return [scatter_add(g, x.shape, off)]


def _avg_pool(node: Node, g: Tensor) -> list[Any]:
    """Each average's rule is the other: the pooling and its transpose."""
    op = node.op
    if isinstance(op, ops.AvgPool2dInputGrad):
        return [g._avg_pool2d_raw(op.params, op.out)]
    return [g._avg_pool2d_input_grad_raw(op.in_shapes[0][2:], op.params, op.out)]


def _interpolate(node: Node, g: Tensor) -> list[Any]:
    """Each one's rule is the other: the resampling and its transpose, to the node input's sizes."""
    op = node.op
    size = op.in_shapes[0][2:]
    if isinstance(op, ops.InterpolateInputGrad):
        return [g._interpolate(op.mode, size, op.scale, op.align_corners)]
    return [g._interpolate_input_grad(op.mode, size, op.scale, op.align_corners)]


def _prelu(node: Node, g: Tensor) -> list[Any]:
    x, w = node.inputs
    wb = w.reshape(()) if w.shape[0] == 1 else w.reshape(*((1, w.shape[0]) + (1,) * (x.ndim - 2)))
    pos = x.numpy() > 0
    dx = g * where(pos, _const(1.0, x.dtype), wb) if node.needs[0] else None
    dw = None
    if node.needs[1]:
        contrib = g * where(pos, _const(0.0, x.dtype), x)
        dw = contrib.sum().reshape(1) if w.shape[0] == 1 else contrib.sum(
            axis=tuple(a for a in range(x.ndim) if a != 1))
    return [dx, dw]


def _maxout(node: Node, g: Tensor) -> list[Any]:
    (x,) = node.inputs
    k = node.op.pieces
    groups = g.reshape(*(g.shape + (1,))) + _const(np.zeros(g.shape + (k,)), g.dtype)
    return [groups.reshape(*x.shape) * _local(node)]


def _cross_entropy(node: Node, g: Tensor) -> list[Any]:
    (x,) = node.inputs
    n = x.shape[0]
    kept = node.op.kept
    onehot = np.zeros(x.shape)
    onehot[np.arange(n)[kept], node.op.labels[kept]] = 1.0
    diff = x.softmax(axis=1) - _const(onehot, x.dtype)
    if not kept.all():  # the ignored rows' gradient is 0
        diff = diff * _const(kept.astype(np.float64).reshape(n, 1), x.dtype)
    red = node.op.reduction
    c = g.reshape(n, 1) if red == "none" else g if red == "sum" else \
        g / _const(float(np.count_nonzero(kept)), g.dtype)
    return [diff * c]


def _nll_loss(node: Node, g: Tensor) -> list[Any]:
    """dx = c · (-m), m the op's constant local matrix (the weight is a constant)."""
    x, w = node.inputs
    op = node.op
    wd = op._weights(x.numpy(), w.numpy())
    n = x.shape[0]
    red = op.reduction
    c = g.reshape(n, 1) if red == "none" else g if red == "sum" else g / _const(op._denominator(wd), g.dtype)
    return [c * _const(-op.local(x.numpy(), wd), x.dtype), None]


def _binary_cross_entropy(node: Node, g: Tensor) -> list[Any]:
    """The op's backward with Tensors (the clamps as clamp), c = 1/numel for the mean."""
    p, t, w = node.inputs
    mean = node.op.reduction == "mean"

    def scaled(v: Tensor) -> Tensor:
        return v / _const(float(p.size), v.dtype) if mean else v

    one_minus_p = -p + 1.0
    dp = dt = None
    if node.needs[0]:
        dp = scaled(g * (p - t) / (one_minus_p * p).clamp(min=float(np.asarray(1e-12, dtype=p.dtype))) * w)
    if node.needs[1]:
        dt = scaled(-(p / one_minus_p).log() * g * w)
    return [dp, dt, None]


def _huber_loss(node: Node, g: Tensor) -> list[Any]:
    """dx = u·c, dt = -dx: u = clamp(d, -δ, δ), clamp(d / β, -1, 1), or sign(d) (β = 0) as a constant;
    c = g, or g / numel for the mean."""
    x, t = node.inputs
    op = node.op
    d = x - t
    if not op.smooth_l1:
        u = d.clamp(-op.delta, op.delta)
    elif op.delta == 0:
        u = _const(op.local(x.numpy(), t.numpy()), x.dtype)
    else:
        u = (d / op.delta).clamp(-1.0, 1.0)
    c = g / float(x.size) if op.reduction == "mean" else g
    r = u * c
    return [r if node.needs[0] else None, -r if node.needs[1] else None]


def _vector_norm(node: Node, g: Tensor) -> list[Any]:
    """dx = x·(g / (y + m)), m = [y = 0] a constant (x is 0 there)."""
    (x,) = node.inputs
    y = _output(node)
    keep = tuple(1 if i in node.op.axes else s for i, s in enumerate(x.shape))
    q = g / (y + _const((y.numpy() == 0).astype(y.dtype), y.dtype))
    return [x * q.reshape(*keep)]


def _custom(node: Node, g: Tensor) -> list[Any]:
    fn, needs = node.op.tensor_fn
    grads = _engines.custom_grads(fn(g, needs), len(node.inputs))
    return [None if gi is None else gi if isinstance(gi, Tensor) else _const(gi, t.dtype)
            for gi, t in zip(grads, node.inputs)]


RULES: dict[type, Rule] = {}
for _cls in (ops.Add, ops.Sub, ops.Mul, ops.Div, ops.Pow, ops.Maximum, ops.Minimum, ops.Atan2, ops.Fmod,
             ops.Remainder, ops.FloorDivide):
    RULES[_cls] = _binary
for _cls in (ops.Neg, ops.AddScalar, ops.MulScalar, ops.PowScalar, ops.DivScalar, ops.RDivScalar, ops.RPowScalar,
             ops.Sqrt, ops.Reciprocal,
             ops.Abs, ops.Clamp, ops.Hardtanh, ops.Sigmoid, ops.Tanh, ops.Relu, ops.LeakyRelu, ops.Elu, ops.Cast):
    RULES[_cls] = _unary
for _cls in ops.OPS.values():  # the elementwise ops carry their rule (ops.Exp.rule ...)
    if hasattr(_cls, "rule"):
        RULES[_cls] = _unary
RULES.update({
    ops.Where: _where, ops.Matmul: _matmul, ops.Sum: _reduce, ops.Mean: _reduce, ops.Max: _reduce,
    ops.Min: _reduce, ops.Reshape: _shape, ops.Permute: _shape, ops.GetItem: _shape, ops.ScatterAdd: _shape,
    ops.Concatenate: _cat, ops.Stack: _cat, ops.Softmax: _softmax, ops.LogSoftmax: _softmax, ops.Custom: _custom,
    ops.Prelu: _prelu, ops.Maxout: _maxout, ops.CrossEntropy: _cross_entropy,
    ops.LogSumExp: _logsumexp, ops.CumSum: _cumsum, ops.IndexMap: _index_map,
    ops.Conv2d: _conv, ops.Conv2dInputGrad: _conv, ops.Conv2dWeightGrad: _conv,
    ops.BatchNorm: _norm, ops.LayerNorm: _norm, ops.GroupNorm: _norm,
    ops.Dropout: _dropout, ops.Embedding: _embedding, ops.ScaledDotProductAttention: _sdpa,
    ops.MaxPool2d: _max_pool, ops.AvgPool2d: _avg_pool, ops.AdaptiveAvgPool2d: _avg_pool,
    ops.AvgPool2dInputGrad: _avg_pool, ops.Interpolate: _interpolate, ops.InterpolateInputGrad: _interpolate,
    ops.Random: _no_grad, ops.Bernoulli: _no_grad, ops.NllLoss: _nll_loss, ops.OneHot: _no_grad,
    ops.BinaryCrossEntropy: _binary_cross_entropy, ops.CheckFiniteNorm: lambda node, g: [g],
    ops.CumProd: _cumprod, ops.Pad: _pad, ops.Tril: _tri, ops.Triu: _tri,
    ops.HuberLoss: _huber_loss, ops.Norm: _vector_norm,
})


def run_backward_graph(root: Node, grad: Tensor) -> list[tuple[Any, Tensor]]:
    """The create_graph sweep: like ``autograd.run_backward`` but with the rules,
    on Tensors, recording; the graph is retained. Returns ``(tensor, gradient)``
    pairs to accumulate (leaves, then retained non-leaves)."""
    from .autograd import topological_order

    order = topological_order(root)
    for node in order:
        node.check()
    grads: dict[int, Tensor] = {id(root): grad}
    leaves: dict[int, tuple[Any, Tensor]] = {}
    retained: list[tuple[Any, Tensor]] = []
    with enable_grad():
        for node in order:
            g = grads.pop(id(node))
            if node.retained is not None:
                owner = node.retained()
                if owner is not None:
                    retained.append((owner, g))
            rule = RULES[type(node.op)]
            for inp, child, need, gi in zip(node.inputs, node.edges, node.needs, rule(node, g)):
                if not need or gi is None:
                    continue
                if child is not None:
                    key = id(child)
                    grads[key] = grads[key] + gi if key in grads else gi
                else:
                    key = id(inp)
                    leaves[key] = (inp, leaves[key][1] + gi) if key in leaves else (inp, gi)
    return list(leaves.values()) + retained
