"""The Python op table: one row per op of the C op table, in op-id order.

Each row says what the Python side needs to know about an op: its name (the C
table's, ``pg_op_name``), its arity (-1: any number of inputs), its gate class
in :mod:`pygrad.gates` with the gate's formula text and parameters, the
symbol circuit diagrams draw for it (:mod:`pygrad.viz`), the module-level
functions and the Tensor methods that apply it. From these rows are built:
the gate classes (:mod:`pygrad._gates`), viz's symbols, the module-level
functions that are one-liners over a Tensor method (:mod:`pygrad._functions`),
and ``__all__`` of both engines. ``tests/ops/test_optable.py`` checks the rows
against the C table and both engines.

This module is data: it imports no engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Apply = Callable[..., Any]
"""How a gate applies the op: ``apply(engine, *tensors, **params)``."""


@dataclass(frozen=True)
class Gate:
    """A gate class of :mod:`pygrad.gates` for one op."""

    name: str
    formula: str
    apply: Apply
    params: tuple[str, ...] = ()
    defaults: tuple[Any, ...] = ()
    differentiable: tuple[bool, ...] = ()


@dataclass(frozen=True)
class Op:
    """One op: see the module docstring.

    ``one_liner``: the module functions in ``functions`` are
    ``_t(x).<method>(...)`` for the first method (``"like"``: the first
    argument takes its float dtype from the second, as binary functions do);
    None when they are written out in :mod:`pygrad._functions`.

    ``elementwise``: a float op of one tensor and no parameters (``sin``,
    ``exp``). Everything Python needs of it is built from this row: the C
    engine's Tensor method (over the C entry point ``pg_<name>``), the
    reference engine's Tensor method and module function (over the reference
    ``Op`` class of that name), its gate, its hypothesis-test builder.
    ``domain`` is where its inputs are drawn in generated tests (``"any"``,
    ``"positive"``, ``"away0"``: see :mod:`pygrad._opcases`).
    """

    name: str
    arity: int
    gate: Gate | None
    symbol: str | None = None
    functions: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    one_liner: str | None = None
    doc: str = ""
    extra_gates: tuple[Gate, ...] = field(default=())
    elementwise: bool = False
    domain: str = "any"


_AXIS = (("axis", "keepdims"), (None, False))

OPS: tuple[Op, ...] = (
    Op("add", 2, Gate("AddGate", "z = x + y; add distributes: dx = dy = dz.", lambda e, x, y: x + y),
       "+", ("add",), ("__add__", "__radd__", "add_")),
    Op("sub", 2, Gate("SubtractGate", "z = x - y; dx = dz, dy = -dz.", lambda e, x, y: x - y),
       "−", ("sub",), ("__sub__", "__rsub__", "sub_")),
    Op("mul", 2, Gate("MultiplyGate", "z = x·y; mul switches: dx = y·dz, dy = x·dz.", lambda e, x, y: x * y),
       "*", ("mul",), ("__mul__", "__rmul__", "mul_")),
    Op("div", 2, Gate("DivideGate", "z = x / y; dx = dz/y, dy = -x·dz/y².", lambda e, x, y: x / y),
       "/", ("div",), ("__truediv__", "__rtruediv__")),
    Op("neg", 1, Gate("NegateGate", "z = -x (the notes' *-1 gate).", lambda e, x: -x),
       "*−1", ("neg",), ("__neg__",)),
    Op("add_scalar", 1, Gate("AddConstantGate", "z = x + c (the notes' +1 gate).", lambda e, x, c: x + c, ("c",)),
       None, (), ("__add__", "__radd__")),
    Op("mul_scalar", 1, Gate("ScaleGate", "z = a·x; dx = a·dz.", lambda e, x, a: x * a, ("a",)),
       None, (), ("__mul__", "__rmul__")),
    Op("pow_scalar", 1, Gate("PowerGate", "z = xᵖ; dx = p·xᵖ⁻¹·dz.", lambda e, x, p: x ** p, ("p",)),
       None, (), ("__pow__",)),
    Op("pow", 2, Gate("PowGate", "z = xʸ; dx = y·xʸ⁻¹·dz, dy = xʸ·log x·dz.", lambda e, x, y: e.pow(x, y)),
       "pow", ("pow",), ("__pow__", "__rpow__", "pow")),
    Op("exp", 1, Gate("ExpGate", "z = eˣ; dx = eˣ·dz.", lambda e, x: x.exp()),
       "exp", ("exp",), ("exp",), "method", "eˣ.", elementwise=True),
    Op("log", 1, Gate("LogGate", "z = log x; dx = dz/x.", lambda e, x: x.log()),
       "log", ("log",), ("log",), "method", "Natural log.", elementwise=True, domain="positive"),
    Op("sqrt", 1, Gate("SqrtGate", "z = √x; dx = dz/(2√x).", lambda e, x: x.sqrt()),
       "√", ("sqrt",), ("sqrt",), "method", "√x."),
    Op("reciprocal", 1, Gate("ReciprocalGate", "z = 1/x (the notes' 1/x gate); dx = -dz/x².",
                             lambda e, x: x.reciprocal()),
       "1/x", ("reciprocal",), ("reciprocal",), "method", "1/x."),
    Op("abs", 1, Gate("AbsGate", "z = |x|; dx = sign(x)·dz (0 at 0).", lambda e, x: x.abs()),
       "|x|", ("abs",), ("abs", "__abs__"), "method", "|x|."),
    Op("maximum", 2, Gate("MaxGate", "z = max(x, y); max routes: the larger input gets dz (ties: half each).",
                          lambda e, x, y: e.maximum(x, y)),
       "max", ("maximum",), ("maximum",), "like", "Elementwise max, broadcasting; ties split the gradient."),
    Op("minimum", 2, Gate("MinGate", "z = min(x, y); the smaller input gets dz (ties: half each).",
                          lambda e, x, y: e.minimum(x, y)),
       "min", ("minimum",), ("minimum",), "like", "Elementwise min, broadcasting; ties split the gradient."),
    Op("clamp", 1, Gate("ClampGate", "z = min(max(x, min), max); dx = dz where min ≤ x ≤ max.",
                        lambda e, x, min, max: x.clamp(min, max), ("min", "max"), (None, None)),  # noqa: A006
       None, ("clamp",), ("clamp",), "method", "Clip to [min, max]."),
    Op("where", 3, Gate("WhereGate", "z = x where cond else y; no gradient to cond.",
                        lambda e, c, x, y: e.where(c, x, y), differentiable=(False, True, True)),
       None, ("where",), ()),
    Op("sigmoid", 1, Gate("SigmoidGate", "z = σ(x) = 1/(1+e⁻ˣ); dx = (1-σ)σ·dz (fused).", lambda e, x: x.sigmoid()),
       "σ", ("sigmoid",), ("sigmoid",), "method", "σ(x) = 1/(1+e⁻ˣ)."),
    Op("tanh", 1, Gate("TanhGate", "z = tanh x; dx = (1-z²)·dz.", lambda e, x: x.tanh()),
       "tanh", ("tanh",), ("tanh",), "method", "tanh x."),
    Op("relu", 1, Gate("ReLUGate", "z = max(0, x); dx = dz where x > 0.", lambda e, x: x.relu()),
       "ReLU", ("relu",), ("relu",), "method", "max(0, x)."),
    Op("leaky_relu", 1, Gate("LeakyReLUGate", "z = x for x > 0, else s·x.",
                             lambda e, x, negative_slope: x.leaky_relu(negative_slope), ("negative_slope",), (0.01,)),
       None, ("leaky_relu",), ("leaky_relu",), "method", "x for x > 0, negative_slope·x otherwise."),
    Op("elu", 1, Gate("ELUGate", "z = x for x > 0, else α(eˣ-1).", lambda e, x, alpha: x.elu(alpha),
                      ("alpha",), (1.0,)),
       None, ("elu",), ("elu",), "method", "x for x > 0, alpha·(eˣ - 1) otherwise."),
    Op("matmul", 2, Gate("MatMulGate", "Z = X·Y; dX = dZ·Yᵀ, dY = Xᵀ·dZ.", lambda e, x, y: x @ y),
       "@", ("matmul",), ("matmul", "__matmul__", "__rmatmul__"), "method",
       "Matrix product with numpy's ``matmul`` rules (1-d promotion, batch broadcasting)."),
    Op("sum", 1, Gate("SumGate", "z = Σ x over axis; dx = dz broadcast back.",
                      lambda e, x, axis, keepdims: x.sum(axis, keepdims), *_AXIS),
       None, ("sum",), ("sum",), "method", "Sum over ``axis`` (None: all)."),
    Op("mean", 1, Gate("MeanGate", "z = mean of x over axis.",
                       lambda e, x, axis, keepdims: x.mean(axis, keepdims), *_AXIS),
       None, ("mean",), ("mean",), "method", "Mean over ``axis`` (None: all)."),
    Op("max", 1, Gate("ReduceMaxGate", "z = max of x over axis; routes dz to the maxima (ties share).",
                      lambda e, x, axis, keepdims: x.max(axis=axis, keepdims=keepdims), *_AXIS),
       None, ("max",), ("max",), "method", "Maximum over ``axis``."),
    Op("min", 1, Gate("ReduceMinGate", "z = min of x over axis; routes dz to the minima (ties share).",
                      lambda e, x, axis, keepdims: x.min(axis=axis, keepdims=keepdims), *_AXIS),
       None, ("min",), ("min",), "method", "Minimum over ``axis``."),
    Op("reshape", 1, Gate("ReshapeGate", "z = x with another shape.", lambda e, x, shape: x.reshape(shape),
                          ("shape",)),
       None, ("reshape",), ("reshape",)),
    Op("permute", 1, Gate("PermuteGate", "z = x with dims reordered.", lambda e, x, dims: x.permute(dims), ("dims",)),
       None, ("permute", "transpose"), ("permute", "transpose", "T"),
       extra_gates=(Gate("TransposeGate", "z = xᵀ (all dims reversed).", lambda e, x: x.T),)),
    Op("getitem", 1, Gate("GetItemGate", "z = x[key]; dx scatter-adds dz.", lambda e, x, key: x[key], ("key",)),
       None, (), ("__getitem__",)),
    Op("concatenate", -1, Gate("ConcatenateGate", "z = inputs joined along axis.",
                               lambda e, *xs, axis: e.concatenate(list(xs), axis), ("axis",), (0,)),
       None, ("concatenate", "cat"), ()),
    Op("stack", -1, Gate("StackGate", "z = inputs stacked along a new axis.",
                         lambda e, *xs, axis: e.stack(list(xs), axis), ("axis",), (0,)),
       None, ("stack",), ()),
    Op("softmax", 1, Gate("SoftmaxGate", "z = softmax(x) along axis.", lambda e, x, axis: x.softmax(axis),
                          ("axis",), (-1,)),
       None, ("softmax",), ("softmax",), "method", "Softmax along ``axis``."),
    Op("log_softmax", 1, Gate("LogSoftmaxGate", "z = log softmax(x) along axis.",
                              lambda e, x, axis: x.log_softmax(axis), ("axis",), (-1,)),
       None, ("log_softmax",), ("log_softmax",), "method", "Log-softmax along ``axis``."),
    Op("cast", 1, Gate("CastGate", "z = x in another float dtype.", lambda e, x, dtype: x.astype(dtype), ("dtype",)),
       None, (), ("astype", "to", "float", "double")),
    Op("custom", -1, None, "custom", ("custom_op",), ()),  # its gate is Gate itself, subclassed by the user
    Op("scatter_add", 1, Gate("ScatterAddGate", "z = zeros(shape) with x.flat[i] added at offsets[i]; dx gathers dz.",
                              lambda e, x, shape, offsets: e.scatter_add(x, shape, offsets), ("shape", "offsets")),
       None, ("scatter_add",), ()),
    Op("prelu", 2, Gate("PReLUGate", "z = x for x > 0, else w_c·x (learned slope, shared or per channel on axis 1).",
                        lambda e, x, w: e.prelu(x, w)),
       None, ("prelu",), ()),
    Op("maxout", 1, Gate("MaxoutGate", "z = max over groups of `pieces` units along the last axis; dz routes to "
                         "each group's max.", lambda e, x, pieces: e.maxout(x, pieces), ("pieces",)),
       None, ("maxout",), ()),
    Op("cross_entropy", 1, Gate("CrossEntropyGate", "z = -log softmax(x)[labels] (mean, sum or none); "
                                "dx = softmax(x) - onehot(labels), scaled.",
                                lambda e, x, labels, reduction: e.cross_entropy(x, labels, reduction),
                                ("labels", "reduction"), ("mean",)),
       None, ("cross_entropy",), ()),
    Op("sin", 1, Gate("SinGate", "z = sin x; dx = cos x·dz.", lambda e, x: x.sin()),
       "sin", ("sin",), ("sin",), "method", "sin x (radians).", elementwise=True),
    Op("cos", 1, Gate("CosGate", "z = cos x; dx = -sin x·dz.", lambda e, x: x.cos()),
       "cos", ("cos",), ("cos",), "method", "cos x (radians).", elementwise=True),
    Op("div_scalar", 1, Gate("DivideByConstantGate", "z = x / c (a true division); dx = dz/c.",
                             lambda e, x, c: x / c, ("c",)),
       None, (), ("__truediv__",)),
    Op("rdiv_scalar", 1, Gate("ConstantOverGate", "z = c / x; dx = -c·dz/x².", lambda e, x, c: c / x, ("c",)),
       None, (), ("__rtruediv__",)),
    Op("rpow_scalar", 1, Gate("ConstantPowerGate", "z = cˣ (with pow, not exp(x·log c)); dx = cˣ·log c·dz "
                              "(0 where c = 0 and x ≥ 0).", lambda e, x, c: c ** x, ("c",)),
       None, (), ("__rpow__",)),
    Op("tan", 1, Gate("TanGate", "z = tan x; dx = (1 + z²)·dz.", lambda e, x: x.tan()),
       "tan", ("tan",), ("tan",), "method", "tan x (radians).", elementwise=True, domain="halfpi"),
    Op("atan", 1, Gate("AtanGate", "z = atan x; dx = dz/(1 + x²).", lambda e, x: x.atan()),
       "atan", ("atan",), ("atan",), "method", "Inverse tangent, in (-π/2, π/2).", elementwise=True),
    Op("sinh", 1, Gate("SinhGate", "z = sinh x; dx = cosh x·dz.", lambda e, x: x.sinh()),
       "sinh", ("sinh",), ("sinh",), "method", "Hyperbolic sine.", elementwise=True),
    Op("cosh", 1, Gate("CoshGate", "z = cosh x; dx = sinh x·dz.", lambda e, x: x.cosh()),
       "cosh", ("cosh",), ("cosh",), "method", "Hyperbolic cosine.", elementwise=True),
    Op("asin", 1, Gate("AsinGate", "z = asin x; dx = dz/√(1 - x²).", lambda e, x: x.asin()),
       "asin", ("asin",), ("asin",), "method", "Inverse sine, in [-π/2, π/2] (NaN outside [-1, 1]).",
       elementwise=True, domain="unit"),
    Op("acos", 1, Gate("AcosGate", "z = acos x; dx = -dz/√(1 - x²).", lambda e, x: x.acos()),
       "acos", ("acos",), ("acos",), "method", "Inverse cosine, in [0, π] (NaN outside [-1, 1]).",
       elementwise=True, domain="unit"),
    Op("log1p", 1, Gate("Log1pGate", "z = log(1 + x); dx = dz/(1 + x).", lambda e, x: x.log1p()),
       "log1p", ("log1p",), ("log1p",), "method", "log(1 + x), accurate for small x.",
       elementwise=True, domain="positive"),
    Op("expm1", 1, Gate("Expm1Gate", "z = eˣ - 1; dx = (z + 1)·dz.", lambda e, x: x.expm1()),
       "expm1", ("expm1",), ("expm1",), "method", "eˣ - 1, accurate for small x.", elementwise=True),
    Op("log2", 1, Gate("Log2Gate", "z = log₂ x; dx = dz/(x ln 2).", lambda e, x: x.log2()),
       "log2", ("log2",), ("log2",), "method", "Base-2 log.", elementwise=True, domain="positive"),
    Op("log10", 1, Gate("Log10Gate", "z = log₁₀ x; dx = dz/(x ln 10).", lambda e, x: x.log10()),
       "log10", ("log10",), ("log10",), "method", "Base-10 log.", elementwise=True, domain="positive"),
    Op("exp2", 1, Gate("Exp2Gate", "z = 2ˣ; dx = z ln 2·dz.", lambda e, x: x.exp2()),
       "exp2", ("exp2",), ("exp2",), "method", "2ˣ.", elementwise=True),
    Op("square", 1, Gate("SquareGate", "z = x²; dx = 2x·dz.", lambda e, x: x.square()),
       "x²", ("square",), ("square",), "method", "x².", elementwise=True),
    Op("rsqrt", 1, Gate("RsqrtGate", "z = 1/√x; dx = -z³/2·dz.", lambda e, x: x.rsqrt()),
       "1/√", ("rsqrt",), ("rsqrt",), "method", "1/√x.", elementwise=True, domain="positive"),
    Op("sign", 1, Gate("SignGate", "z = sign x; dx = 0.", lambda e, x: x.sign()),
       "sign", ("sign",), ("sign",), "method", "-1, 0 or 1 (NaN stays NaN); zero gradient.",
       elementwise=True, domain="nonint"),
    Op("floor", 1, Gate("FloorGate", "z = ⌊x⌋; dx = 0.", lambda e, x: x.floor()),
       "floor", ("floor",), ("floor",), "method", "Largest integer ≤ x; zero gradient.",
       elementwise=True, domain="nonint"),
    Op("ceil", 1, Gate("CeilGate", "z = ⌈x⌉; dx = 0.", lambda e, x: x.ceil()),
       "ceil", ("ceil",), ("ceil",), "method", "Smallest integer ≥ x; zero gradient.",
       elementwise=True, domain="nonint"),
    Op("round", 1, Gate("RoundGate", "z = round x (halves to even); dx = 0.", lambda e, x: x.round()),
       "round", ("round",), ("round",), "method", "Nearest integer, halves to even (as numpy, PyTorch); zero gradient.",
       elementwise=True, domain="nonint"),
    Op("trunc", 1, Gate("TruncGate", "z = trunc x; dx = 0.", lambda e, x: x.trunc()),
       "trunc", ("trunc",), ("trunc",), "method", "x rounded toward zero; zero gradient.",
       elementwise=True, domain="nonint"),
    Op("erf", 1, Gate("ErfGate", "z = erf x; dx = 2/√π·e^(-x²)·dz.", lambda e, x: x.erf()),
       "erf", ("erf",), ("erf",), "method", "The error function.", elementwise=True),
    Op("silu", 1, Gate("SiLUGate", "z = x·σ(x); dx = σ(x)(1 + x(1 - σ(x)))·dz.", lambda e, x: x.silu()),
       "SiLU", ("silu",), ("silu",), "method", "x·σ(x) (swish).", elementwise=True),
    Op("logsigmoid", 1, Gate("LogSigmoidGate", "z = log σ(x); dx = σ(-x)·dz.", lambda e, x: x.logsigmoid()),
       "log σ", ("logsigmoid",), ("logsigmoid",), "method", "log σ(x), computed without overflow.",
       elementwise=True),
    Op("softplus", 1, Gate("SoftplusGate", "z = log(1 + eˣ) (x above 20); dx = σ(x)·dz (dz above 20).",
                           lambda e, x: x.softplus()),
       "softplus", ("softplus",), ("softplus",), "method",
       "log(1 + eˣ), and x itself above 20 (PyTorch's beta=1, threshold=20).", elementwise=True),
    Op("mish", 1, Gate("MishGate", "z = x·tanh(softplus x); dx = (t + x·σ(x)(1 - t²))·dz, t = tanh(softplus x).",
                       lambda e, x: x.mish()),
       "mish", ("mish",), ("mish",), "method", "x·tanh(log(1 + eˣ)).", elementwise=True),
    Op("hardsigmoid", 1, Gate("HardsigmoidGate", "z = min(max(x + 3, 0), 6)/6; dx = dz/6 for -3 < x < 3.",
                              lambda e, x: x.hardsigmoid()),
       "hardσ", ("hardsigmoid",), ("hardsigmoid",), "method",
       "min(max(x + 3, 0), 6) / 6, a piecewise-linear σ.", elementwise=True),
    Op("gelu", 1, Gate("GELUGate", "z = x·Φ(x) (exact, erf form); dx = (Φ(x) + x·φ(x))·dz.",
                       lambda e, x: x.gelu()),
       "GELU", ("gelu",), ("gelu",), "method", "x·Φ(x) = x(1 + erf(x/√2))/2 (exact form).", elementwise=True),
    Op("atan2", 2, Gate("Atan2Gate", "z = atan2(x, y); dx = y/(x²+y²)·dz, dy = -x/(x²+y²)·dz.",
                        lambda e, x, y: e.atan2(x, y)),
       "atan2", ("atan2",), ("atan2",), "like", "atan2(a, b), the angle of the point (b, a)."),
    Op("fmod", 2, Gate("FmodGate", "z = fmod(x, y) (sign of x); dx = dz, dy = -trunc(x/y)·dz.",
                       lambda e, x, y: e.fmod(x, y)),
       "fmod", ("fmod",), ("fmod",), "like", "C's fmod: a - trunc(a/b)·b, the sign of a."),
    Op("remainder", 2, Gate("RemainderGate", "z = x mod y (sign of y); dx = dz, dy = -floor(x/y)·dz.",
                            lambda e, x, y: e.remainder(x, y)),
       "%", ("remainder",), ("remainder", "__mod__", "__rmod__"), "like",
       "Python's %: a - floor(a/b)·b, the sign of b."),
    Op("floor_divide", 2, Gate("FloorDivideGate", "z = floor(x / y); piecewise constant: dx = dy = 0.",
                               lambda e, x, y: e.floor_divide(x, y)),
       "//", ("floor_divide",), ("floor_divide", "__floordiv__", "__rfloordiv__"), "like",
       "Python's //: floor(a / b), zero gradient."),
    Op("logsumexp", 1, Gate("LogSumExpGate", "z = log Σ eˣ over dim (stable); dx = softmax(x)·dz.",
                            lambda e, x, dim, keepdim: x.logsumexp(dim, keepdim), ("dim", "keepdim"), (None, False)),
       "logΣe", ("logsumexp",), ("logsumexp",)),
    Op("cumsum", 1, Gate("CumSumGate", "zᵢ = Σ_{j≤i} xⱼ along dim; dx = the running sum of dz from the end.",
                         lambda e, x, dim: x.cumsum(dim), ("dim",)),
       "cumΣ", ("cumsum",), ("cumsum",)),
    Op("index_map", 1, Gate("IndexMapGate", "z[i, j, ...] = x[map₀[i], map₁[j], ...]; dx scatter-adds dz.",
                            lambda e, x, maps: x._index_map(maps), ("maps",)),
       "map", (), (),
       doc="y[i, j, ...] = x[map₀[i], map₁[j], ...]: flip, roll, repeat, tile, expand and pad move data with it."),
    Op("conv2d", 2, Gate("Conv2dGate", "y[n, o] = Σ_c,i,j x[n, c, s·h + d·i - p, s·w + d·j - p] w[o, c, i, j] "
                         "(per group); dx = conv_transpose(dy, w), dw = Σ_n dy ⋆ x.",
                         lambda e, x, w, stride, padding, dilation, groups:
                             x._conv2d(w, stride, padding, dilation, groups),
                         ("stride", "padding", "dilation", "groups"), ((1, 1), (0, 0, 0, 0), (1, 1), 1)),
       "conv", (), (),
       doc="2-d convolution (cross-correlation) without bias, NCHW: pygrad.nn.functional.conv2d."),
    Op("conv2d_input_grad", 2, Gate("Conv2dInputGradGate", "dx = conv_transpose(dy, w): the gradient of conv2d "
                                    "w.r.t. its input, itself linear in dy and in w.",
                                    lambda e, g, w, input_size, stride, padding, dilation, groups:
                                        g._conv2d_input_grad(w, input_size, stride, padding, dilation, groups),
                                    ("input_size", "stride", "padding", "dilation", "groups"),
                                    ((1, 1), (0, 0, 0, 0), (1, 1), 1)),
       "convᵀ", (), (),
       doc="The gradient of conv2d w.r.t. its input (a transposed convolution), for double backward."),
    Op("conv2d_weight_grad", 2, Gate("Conv2dWeightGradGate", "dw = Σ_n dy ⋆ x: the gradient of conv2d w.r.t. "
                                     "its weight, itself linear in x and in dy.",
                                     lambda e, x, g, kernel_size, stride, padding, dilation, groups:
                                         x._conv2d_weight_grad(g, kernel_size, stride, padding, dilation, groups),
                                     ("kernel_size", "stride", "padding", "dilation", "groups"),
                                     ((1, 1), (0, 0, 0, 0), (1, 1), 1)),
       "conv_w", (), (),
       doc="The gradient of conv2d w.r.t. its weight, for double backward."),
    Op("batch_norm", 3, Gate("BatchNormGate", "y = (x - mean_c) / sqrt(var_c + eps) · w_c + b_c, statistics per "
                             "channel over (N, *); dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), "
                             "dxhat = w dy; dw = Σ dy xhat, db = Σ dy.",
                             lambda e, x, w, b, eps: e.nn.functional.batch_norm(x, None, None, w, b, True, 0.1, eps),
                             ("eps",), (1e-5,)),
       "BN", (), (),
       doc="Batch normalisation (training statistics): pygrad.nn.functional.batch_norm."),
    Op("layer_norm", 3, Gate("LayerNormGate", "y = (x - mean) / sqrt(var + eps) · w + b, statistics over the "
                             "normalized (last) dims; dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)).",
                             lambda e, x, w, b, eps: e.nn.functional.layer_norm(x, tuple(w.shape), w, b, eps),
                             ("eps",), (1e-5,)),
       "LN", (), (),
       doc="Layer normalisation: pygrad.nn.functional.layer_norm."),
    Op("group_norm", 3, Gate("GroupNormGate", "y = (x - mean_ng) / sqrt(var_ng + eps) · w_c + b_c, statistics "
                             "per (sample, group of channels); dx as layer_norm's within each group.",
                             lambda e, x, w, b, num_groups, eps: e.nn.functional.group_norm(x, num_groups, w, b, eps),
                             ("num_groups", "eps"), (1, 1e-5)),
       "GN", (), (),
       doc="Group normalisation: pygrad.nn.functional.group_norm."),
    Op("dropout", 1, Gate("DropoutGate", "y = x · keep / (1 - p), keep[i] = hash(seed, i) ≥ ⌊p·2³²⌋; "
                          "dx = g · keep / (1 - p) (the same mask).",
                          lambda e, x, p, seed: x._dropout_seeded(p, seed), ("p", "seed"), (0.5, 0)),
       "drop", (), (),
       doc="Dropout in training mode with the mask of a seed: pygrad.nn.functional.dropout."),
    Op("embedding", 1, Gate("EmbeddingGate", "y[i, :] = w[idx[i], :]; dw[v, :] = Σ_{idx[i] = v} s_v g[i, :] "
                            "(none into padding_idx; s_v = 1, or 1 / count(v) with scale_grad_by_freq).",
                            lambda e, w, indices, padding_idx, scale_grad_by_freq:
                                w._embedding(indices, padding_idx, scale_grad_by_freq),
                            ("indices", "padding_idx", "scale_grad_by_freq"), ((0,), -1, False)),
       "emb", (), (),
       doc="Rows of a table at integer indices: pygrad.nn.functional.embedding."),
    Op("scaled_dot_product_attention", 4,
       Gate("ScaledDotProductAttentionGate", "o = softmax(scale · q kᵀ + bias) v; dv = pᵀ g, ds = p (g vᵀ − D), "
            "dq = scale ds k, dk = scale dsᵀ q, dbias = ds.",
            lambda e, q, k, v, bias, scale, is_causal, dropout_p, seed: q._sdpa(k, v, bias, scale, is_causal,
                                                                                dropout_p, seed),
            ("scale", "is_causal", "dropout_p", "seed"), (1.0, False, 0.0, 0)),
       "attn", (), (),
       doc="Fused attention: pygrad.nn.functional.scaled_dot_product_attention."),
    Op("max_pool2d", 1, Gate("MaxPool2dGate", "y[n, c, a, b] = max of the window (a, b) of x[n, c]; max routes: "
                             "the window's first maximum gets dy.",
                             lambda e, x, kernel_size, stride, padding, dilation, ceil_mode:
                                 x._max_pool2d(kernel_size, kernel_size if stride is None else stride, padding,
                                               dilation, ceil_mode),
                             ("kernel_size", "stride", "padding", "dilation", "ceil_mode"), (None, 0, 1, False)),
       "maxpool", (), (),
       doc="2-d max pooling, NCHW: pygrad.nn.functional.max_pool2d."),
    Op("avg_pool2d", 1, Gate("AvgPool2dGate", "y[n, c, a, b] = Σ_window x[n, c] / divisor; dx spreads dy / "
                             "divisor over each window.",
                             lambda e, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                             divisor_override: x._avg_pool2d(kernel_size, kernel_size if stride is None else stride,
                                                             padding, ceil_mode, count_include_pad,
                                                             divisor_override or 0),
                             ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                              "divisor_override"), (None, 0, False, True, None)),
       "avgpool", (), (),
       doc="2-d average pooling, NCHW: pygrad.nn.functional.avg_pool2d."),
    Op("adaptive_avg_pool2d", 1, Gate("AdaptiveAvgPool2dGate", "y[n, c, a, b] = the mean of x[n, c] over rows "
                                      "[⌊aH/OH⌋, ⌈(a+1)H/OH⌉) and the columns alike.",
                                      lambda e, x, output_size: x._adaptive_avg_pool2d(output_size),
                                      ("output_size",)),
       "adaptive avgpool", (), (),
       doc="2-d adaptive average pooling, NCHW: pygrad.nn.functional.adaptive_avg_pool2d."),
    Op("avg_pool2d_input_grad", 1, Gate("AvgPool2dInputGradGate", "dx = the transposed average: dy / divisor "
                                        "added over each window; linear in dy.",
                                        lambda e, g, input_size, kernel_size, stride, padding, ceil_mode,
                                        count_include_pad, divisor_override:
                                            g._avg_pool2d_input_grad(input_size, kernel_size, stride, padding,
                                                                     ceil_mode, count_include_pad, divisor_override),
                                        ("input_size", "kernel_size", "stride", "padding", "ceil_mode",
                                         "count_include_pad", "divisor_override"), (0, False, True, 0)),
       "avgpoolᵀ", (), (),
       doc="The gradient of avg_pool2d (or adaptive_avg_pool2d) w.r.t. its input, for double backward."),
    Op("interpolate", 1, Gate("InterpolateGate", "y = x resampled to size: each output takes its nearest input, "
                              "two neighbours weighted 1 - λ and λ (linear), four (cubic), or a normalised filter "
                              "window (antialiased); dx scatters dy back with the same weights.",
                              lambda e, x, size, mode, scale_factor, align_corners:
                                  x._interpolate(mode, size, scale_factor, align_corners),
                              ("size", "mode", "scale_factor", "align_corners"), ("nearest", None, False)),
       "resample", (), (),
       doc="Resampling of (N, C, L) or (N, C, H, W): pygrad.nn.functional.interpolate."),
    Op("interpolate_input_grad", 1, Gate("InterpolateInputGradGate", "dx = the transposed resampling: dy added "
                                         "into the inputs it came from, with their weights; linear in dy.",
                                         lambda e, g, input_size, mode, scale_factor, align_corners:
                                             g._interpolate_input_grad(mode, input_size, scale_factor,
                                                                       align_corners),
                                         ("input_size", "mode", "scale_factor", "align_corners"),
                                         ("nearest", None, False)),
       "resampleᵀ", (), (),
       doc="The gradient of interpolate w.r.t. its input, for double backward."),
    Op("random", 1, Gate("RandomGate", "y = rand, randn or randint values of seed in x's shape and dtype (a "
                         "counter-based hash of (seed, flat index); normal: Box-Muller; int: Lemire's "
                         "multiply-shift with rejection); no gradient.",
                         lambda e, x, kind, seed: x._random_like(kind, seed), ("kind", "seed"), ("normal", 0),
                         (False,)),
       "rand", (), (),
       doc="Uniform, normal or integer samples of a seed: pygrad.rand, pygrad.randn, pygrad.randint (and "
           "rand_like, randn_like, randint_like, normal)."),
    Op("bernoulli", 1, Gate("BernoulliGate", "y[i] = 1 if u(seed, i) < x[i] else 0, x the probabilities; "
                            "no gradient.",
                            lambda e, x, seed: x._bernoulli_seeded(seed), ("seed",), (0,), (False,)),
       "bern", (), (),
       doc="Bernoulli samples of probabilities with a seed: pygrad.bernoulli, Tensor.bernoulli_."),
    Op("nll_loss", 2, Gate("NllLossGate", "z_i = -(1 - ε) w[y_i] x[i, y_i] - (ε/C) Σ_j w[j] x[i, j], 0 where "
                           "y_i = ignore_index (mean over Σ w[y_i] kept, sum or none); dx = -c·m, m a constant; "
                           "w (C,) or 0-d (all 1) gets no gradient.",
                           lambda e, x, w, labels, ignore_index, reduction, label_smoothing:
                               x._nll_loss(labels, w, ignore_index, reduction, label_smoothing),
                           ("labels", "ignore_index", "reduction", "label_smoothing"), ((0,), -100, "mean", 0.0),
                           (True, False)),
       "nll", (), (),
       doc="The negative log-likelihood of log-probabilities at integer labels, with class weights, an "
           "ignored label and label smoothing: pygrad.nn.functional.nll_loss (and cross_entropy's weight=, "
           "label_smoothing=)."),
    Op("one_hot", 1, Gate("OneHotGate", "z[..., c] = 1 where y[...] = c, else 0: int64 of shape y.shape + (C,), y "
                          "integer labels in [0, C) (checked at each run); no gradient.",
                          lambda e, y, num_classes: y._one_hot(num_classes), ("num_classes",), (), (False,)),
       "onehot", (), (),
       doc="Integer labels as rows of 0s and a 1 (int64): pygrad.nn.functional.one_hot."),
    Op("binary_cross_entropy", 3, Gate("BinaryCrossEntropyGate", "z = w ((t - 1) max(log(1 - p), -100) - t max(log p, "
                                       "-100)) (mean, sum or none), p in [0, 1] (checked at each run); dp = w (p - "
                                       "t) / max((1 - p) p, 1e-12), dt = -w logit(p); w gets no gradient.",
                                       lambda e, p, t, w, reduction: p._binary_cross_entropy(t, w, reduction),
                                       ("reduction",), ("mean",), (True, True, False)),
       "BCE", (), (),
       doc="Binary cross-entropy of probabilities and targets with an elementwise weight, fused: "
           "pygrad.nn.functional.binary_cross_entropy, nn.BCELoss."),
    Op("check_finite_norm", 1, Gate("CheckFiniteNormGate", "z = x, a total norm of order p, refused (RuntimeError) "
                                    "when x holds a NaN or an infinity; dx = dz.",
                                    lambda e, x, norm_type: x._check_finite_norm(norm_type), ("norm_type",),
                                    (2.0,)),
       "finite?", (), (),
       doc="The total norm's check of nn.utils.clip_grad_norm_(..., error_if_nonfinite=True), run at each "
           "call of a compiled step."),
    Op("cumprod", 1, Gate("CumProdGate", "zᵢ = Π_{j≤i} xⱼ along dim; dxᵢ = zᵢ₋₁·rᵢ, rᵢ = dzᵢ + xᵢ₊₁·rᵢ₊₁ "
                          "(no division: exact with zeros).", lambda e, x, dim: x.cumprod(dim), ("dim",)),
       "cumΠ", (), (),
       doc="The running product along a dim: cumprod (pygrad._derived checks its arguments)."),
    Op("pad", 1, Gate("PadGate", "z[o] = x[o - lo] inside x, value elsewhere (lo < 0 crops); dx = dz cropped back.",
                      lambda e, x, lo, hi, value: x._pad(lo, hi, value), ("lo", "hi", "value"), ((), (), 0.0)),
       "pad", (), (),
       doc="Constant padding (and cropping) of every dim: nn.functional.pad's constant mode."),
    Op("tril", 1, Gate("TrilGate", "z = x where j - i ≤ k (last two dims), 0 elsewhere; dx = tril(dz, k).",
                       lambda e, x, diagonal: x.tril(diagonal), ("diagonal",), (0,)),
       "tril", (), (),
       doc="The lower triangle: tril (pygrad._derived checks its arguments)."),
    Op("triu", 1, Gate("TriuGate", "z = x where j - i ≥ k (last two dims), 0 elsewhere; dx = triu(dz, k).",
                       lambda e, x, diagonal: x.triu(diagonal), ("diagonal",), (0,)),
       "triu", (), (),
       doc="The upper triangle: triu (pygrad._derived checks its arguments)."),
    Op("hardtanh", 1, Gate("HardtanhGate", "z = min(max(x, min_val), max_val); dx = dz strictly inside, "
                           "min_val < x < max_val.", lambda e, x, min_val, max_val: x._hardtanh(min_val, max_val),
                           ("min_val", "max_val"), (-1.0, 1.0)),
       "hardtanh", (), (),
       doc="x clipped to [min_val, max_val], the gradient passing strictly inside (PyTorch's rule): "
           "pygrad.nn.functional.hardtanh and relu6, nn.Hardtanh, nn.ReLU6."),
    Op("huber_loss", 2, Gate("HuberLossGate", "z = ½d² for |d| < δ, else δ(|d| - ½δ), d = x - t (smooth_l1: divided "
                             "by β = δ; β = 0: |d|), mean, sum or none; dx = clamp(d, -δ, δ)·dz (smooth_l1: "
                             "clamp(d/β, -1, 1)), dt = -dx.",
                             lambda e, x, t, reduction, delta, smooth_l1: x._huber_loss(t, reduction, delta, smooth_l1),
                             ("reduction", "delta", "smooth_l1"), ("mean", 1.0, False)),
       "huber", (), (),
       doc="The Huber loss and the smooth L1 loss of an input and a target, fused with the reduction: "
           "pygrad.nn.functional.huber_loss and smooth_l1_loss, nn.HuberLoss, nn.SmoothL1Loss."),
    Op("norm", 1, Gate("NormGate", "z = √Σ x² over dim (the sum in float64); dx = x·dz/z (0 where z = 0).",
                       lambda e, x, dim, keepdim: e.norm(x, 2, dim, keepdim), ("dim", "keepdim"), (None, False)),
       "‖x‖", (), (),
       doc="The 2-norm over dims in one pass: Tensor.norm and pygrad.norm with p = 2 or 'fro' (and "
           "clip_grad_norm_, normalize, cosine_similarity through them)."),
)

OP_BY_NAME: dict[str, Op] = {op.name: op for op in OPS}

ELEMENTWISE: tuple[Op, ...] = tuple(op for op in OPS if op.elementwise)
"""The plain elementwise ops, whose Python side is built from their rows alone."""

SYMBOLS: dict[str, str] = {op.name: op.symbol for op in OPS if op.symbol is not None}
"""The symbol circuit diagrams draw for an op's node."""

FUNCTIONS: tuple[str, ...] = tuple(f for op in OPS for f in op.functions)
"""Every module-level function that applies an op, on both engines."""

# The engines' other public names (not op functions).
COMMON_NAMES: tuple[str, ...] = (
    "Tensor", "tensor", "float32", "float64", "bool_", "int64", "int32", "long", "double", "randint", "zeros",
    "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "logical_and", "logical_or", "logical_xor",
    "logical_not", "lerp", "argmax", "argmin", "argsort", "sort", "topk", "cummax", "cummin", "count_nonzero",
    "any", "all",
    "nonzero", "index_select", "take_along_dim", "masked_fill", "gather", "scatter",
    "ones", "full", "rand", "randn", "arange", "eye",
    "from_numpy", "manual_seed", "no_grad", "enable_grad", "is_grad_enabled", "detect_anomaly",
    "set_detect_anomaly", "is_anomaly_enabled", "OP_NAMES", "PygradError", "ShapeError", "PygradValueError",
    "PygradTypeError", "PygradIndexError", "PygradRuntimeError", "PygradMemoryError", "from_dlpack",
    "set_grad_enabled", "inference_mode", "is_inference_mode_enabled", "device", "cuda",
)
C_ONLY_NAMES: tuple[str, ...] = (
    "GradFn", "live_objects", "set_num_threads", "get_num_threads", "empty_cache", "set_cache_limit",
    "get_cache_limit", "memory_stats",
)
REFERENCE_ONLY_NAMES: tuple[str, ...] = ("OPS", "nn", "optim")
DERIVED_FUNCTIONS: tuple[str, ...] = (
    "squeeze", "unsqueeze", "flatten", "unflatten", "broadcast_to", "movedim", "moveaxis", "narrow", "split",
    "chunk", "unbind", "clone", "flip", "roll", "tile", "diagonal", "tril", "triu", "dot", "outer", "ger",
    "einsum", "isclose", "allclose", "var", "std", "norm", "prod", "cumprod", "logcumsumexp", "linspace",
    "empty", "zeros_like", "ones_like", "full_like", "empty_like", "rand_like", "randn_like", "randint_like",
    "normal", "as_tensor", "logspace", "t", "mm", "bmm", "mv", "addmm", "clamp_min", "clamp_max", "clip", "amax",
    "amin",
    "isnan", "isinf", "isfinite", "nan_to_num", "masked_select", "repeat_interleave", "logaddexp", "hypot", "diag",
    "cross", "index_add", "swapaxes", "swapdims", "eq", "ne", "lt", "le", "gt", "ge", "equal", "sgn", "frac",
    "addcmul", "addcdiv", "baddbmm", "addbmm", "addmv", "inner", "kron", "trace", "select", "rot90", "diag_embed",
    "diagflat", "dist", "xlogy", "logit", "sinc", "nansum", "nanmean", "median", "kthvalue", "quantile", "index_fill",
    "index_copy", "bernoulli",
)
"""The module functions of both engines made of other ops (:mod:`pygrad._derived`), not op-table rows."""


def c_all() -> list[str]:
    """``__all__`` of the C engine (``pygrad._c``)."""
    return sorted({*FUNCTIONS, *DERIVED_FUNCTIONS, *COMMON_NAMES, *C_ONLY_NAMES})


def reference_all() -> list[str]:
    """``__all__`` of the reference engine (``pygrad.reference``)."""
    return sorted({*FUNCTIONS, *DERIVED_FUNCTIONS, *COMMON_NAMES, *REFERENCE_ONLY_NAMES})
