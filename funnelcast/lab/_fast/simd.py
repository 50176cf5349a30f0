"""An 8-lane vector register for numba: the Threshold Lab's up to 8 capped running sums.

LLVM does not vectorise eight scalar sums on its own (no SLP: the scalar loop ran twice as
long), so kernels.vector_scores keeps them in one LLVM `<8 x double>`: a numba type (Vec8)
with a handful of intrinsics, here, that emit the vector IR directly. Every lane computes exactly what the scalar code computes for its sum:
- the decay is one vector multiply by the check's factor;
- a group's count goes to the lane of its type's slot and +0.0 to the others (a slot of -1,
  a type that is not capped, matches no lane), as the scalar `c_i += n * (s == i)`;
- the capped part is p * min(c, k) lane by lane, min as numba lowers Python's min of two floats
  (k < c ? k : c), then added to the score lane by lane IN ORDER 0..7, as the scalar code adds
  them. (A tree sum would round differently, and measured no faster: the loop is bound by
  throughput, not by this chain.)
So kernels.vector_scores, the loop that uses them, is bit for bit kernels.generic_scores,
the loop over an array of sums (tests/test_lab_simd.py).

One more intrinsic numba lacks, for the same loops: prefetch, a hint to bring a cache line in
before it is read.

The intrinsics are plain LLVM IR: they work in cached (cache=True), nogil, _nrt=False and
inline="always" functions like kernels'. This module imports nothing of funnelcast's.
"""

from __future__ import annotations

from typing import Any

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

# numba's type stubs make an intrinsic's call return Never (it cannot run in Python), so mypy
# would take the rest of a kernel calling one as unreachable and skip it: as Any, it checks them
_intrinsic: Any = intrinsic

LANES = 8
_DOUBLE = ir.DoubleType()
_VEC = ir.VectorType(_DOUBLE, LANES)
_I64 = ir.IntType(64)
_IVEC = ir.VectorType(_I64, LANES)
_SPLAT_MASK = ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES)


class Vec8(types.Type):
    """Numba type of eight float64 lanes held as one LLVM <8 x double> value."""

    def __init__(self) -> None:
        super().__init__(name="Vec8")


vec8 = Vec8()


@register_model(Vec8)
class Vec8Model(models.PrimitiveModel):
    """A Vec8 is an LLVM <8 x double>, passed and stored by value."""

    def __init__(self, dmm, fe_type) -> None:
        super().__init__(dmm, fe_type, _VEC)


def _splat(builder: ir.IRBuilder, value: ir.Value, vector_type: ir.VectorType) -> ir.Value:
    """Return a vector with value in every lane (insertelement + shufflevector, a broadcast)."""
    one = builder.insert_element(ir.Constant(vector_type, ir.Undefined), value, _I64(0))
    return builder.shuffle_vector(one, ir.Constant(vector_type, ir.Undefined), _SPLAT_MASK)


def _as_float(context, builder, value, value_type) -> ir.Value:
    """Return a scalar as float64, numba's conversion (exact for counts below 2**53)."""
    return context.cast(builder, value, value_type, types.float64)


@_intrinsic
def vec8_zero(typingctx):
    """Return eight 0.0 lanes."""

    def codegen(context, builder, signature, args):
        return ir.Constant(_VEC, [0.0] * LANES)

    return vec8(), codegen


@_intrinsic
def vec8_load(typingctx, array):
    """Return an array's first eight float64 elements (the array must have at least eight)."""
    if not (isinstance(array, types.Array) and array.ndim == 1 and array.dtype == types.float64):
        return None

    def codegen(context, builder, signature, args):
        (array_type,) = signature.args
        values = context.make_array(array_type)(context, builder, args[0])
        if array_type.layout == "C":
            pointer = builder.bitcast(values.data, _VEC.as_pointer())
            return builder.load(pointer, align=8)
        out = ir.Constant(_VEC, ir.Undefined)
        for i in range(LANES):
            at = cgutils.get_item_pointer(
                context, builder, array_type, values, [context.get_constant(types.intp, i)]
            )
            out = builder.insert_element(out, builder.load(at), _I64(i))
        return out

    return vec8(array), codegen


@_intrinsic
def vec8_get(typingctx, v, i):
    """Return lane i of v (i in 0..7)."""
    if not (isinstance(v, Vec8) and isinstance(i, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        lane = context.cast(builder, args[1], signature.args[1], types.int64)
        return builder.extract_element(args[0], lane)

    return types.float64(v, i), codegen


@_intrinsic
def vec8_scale(typingctx, v, f):
    """Return v times f in every lane."""
    if not (isinstance(v, Vec8) and isinstance(f, types.Number)):
        return None

    def codegen(context, builder, signature, args):
        factor = _as_float(context, builder, args[1], signature.args[1])
        return builder.fmul(args[0], _splat(builder, factor, _VEC))

    return vec8(v, f), codegen


@_intrinsic
def vec8_add_at(typingctx, v, x, s):
    """Return v with x added to lane s and +0.0 to the others: c_i + x * (s == i), as the
    scalar code. s outside 0..7 (a slot of -1) adds x to no lane."""
    if not (isinstance(v, Vec8) and isinstance(x, types.Number) and isinstance(s, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        _, x_type, s_type = signature.args
        value = _splat(builder, _as_float(context, builder, args[1], x_type), _VEC)
        lane = _splat(builder, context.cast(builder, args[2], s_type, types.int64), _IVEC)
        is_lane = builder.icmp_signed("==", lane, ir.Constant(_IVEC, list(range(LANES))))
        added = builder.select(is_lane, value, ir.Constant(_VEC, [0.0] * LANES))
        return builder.fadd(args[0], added)

    return vec8(v, x, s), codegen


@_intrinsic
def prefetch(typingctx, array, index):
    """Ask the CPU to bring array[index]'s cache line in for reading (llvm.prefetch; no fault
    and no effect on results, whatever the index: a hint)."""
    if not (isinstance(array, types.Array) and isinstance(index, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        array_type, index_type = signature.args
        values = context.make_array(array_type)(context, builder, args[0])
        at = context.cast(builder, args[1], index_type, types.intp)
        byte_pointer = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        hint = ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32])
        function = cgutils.get_or_insert_function(builder.module, hint, "llvm.prefetch.p0i8")
        # read (0), keep in all cache levels (3), data (1)
        pointer = builder.bitcast(builder.gep(values.data, [at]), byte_pointer)
        builder.call(function, [pointer, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.none(array, index), codegen


@_intrinsic
def vec8_capped_sum(typingctx, x, c, k, p):
    """Return x + p0 * min(c0, k0) + ... + p7 * min(c7, k7), added in lane order 0..7.

    min as numba's min(c, k) of two floats: k if k < c else c.
    """
    if not (
        isinstance(x, types.Float)
        and isinstance(c, Vec8)
        and isinstance(k, Vec8)
        and isinstance(p, Vec8)
    ):
        return None

    def codegen(context, builder, signature, args):
        total = context.cast(builder, args[0], signature.args[0], types.float64)
        sums, caps, points = args[1:]
        lowest = builder.select(builder.fcmp_ordered("<", caps, sums), caps, sums)
        parts = builder.fmul(points, lowest)
        for i in range(LANES):
            total = builder.fadd(total, builder.extract_element(parts, _I64(i)))
        return total

    return types.float64(x, c, k, p), codegen
