"""The tuning knobs of the tuned path, in one object.

Every tuned function that has a knob takes `tuning: Tuning = DEFAULT` as a keyword argument; the modules
in cnnumpy.nn never pass it, so the defaults below are what a model runs with. Tests pass other values to
force a path (one-sample chunks, full windows instead of rows, ...) without touching any global.
Why each default is what it is: docs/performance.md#tuning-knobs.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Tuning:
    """Sizes and switches of the tuned kernels (bytes are per thread's chunk unless said otherwise).

    chunk_bytes:     the columns of one chunk of conv_im2col and conv_numba, small enough to stay in the cache
                     between the unfolding and the GEMM that reads them.
    cache_bytes:     the whole batch's columns are kept for backward up to this size, else unfolded again.
    batched_area:    conv_im2col puts the batch along the columns (conv_batched) of outputs of at most this
                     many pixels, where the per-sample products are too thin for BLAS.
    rows:            conv_im2col unfolds layers of height stride 1 along the width only (see engine.py).
    dw_rows, dw_filters: dW as D @ cols.T up to this many rows of cols or filters per group, else cols @ D.T.
    winograd_chunk_bytes: the transformed tiles of one chunk of conv_winograd.
    winograd_rules:  Winograd pays where one rule (side, channels, product) holds: an output of at least `side` on
                     each side, at least `channels` input channels and filters, and channels x filters of at least
                     `product` (see conv_winograd.pays).
    winograd_dw_batched: conv_winograd's backward takes dW from conv_batched (the batch along the columns) from this
                     many rows of a window (C*3*3), else from conv_im2col's per-sample products.
    winograd_dw_chunk_bytes: the columns of one chunk of that dW.
    winograd_infer_rules: the same for a forward pass alone (conv_infer.auto), whose Winograd pays from smaller
                     outputs: no backward to pay for.
    pool_split_bytes: max pooling splits inputs of at least this size over the threads.
    relu_split_bytes: ReLU splits arrays of at least this size over the threads.
    relu_compiled:   ReLU's backward runs numba's one-pass loop where numba is installed.
    linear_split_work: multiply-adds below which one thread does a Linear layer's whole product.
    linear_transposed_rows: up to this many rows (and fewer than the output features) Linear computes y.T = w @ x.T.
    norm_chunk_bytes: x per chunk of BatchNorm's passes.
    act_split_bytes: the modern activations, the normalization family and padding split arrays of at least
                     this size over the threads (smaller ones run in the calling thread).
    act_chunk_bytes: input per chunk of the modern activations' in-place passes, small enough for the cache.
    depthwise:       conv_numba computes depthwise layers (one input channel per group) by conv_depthwise's
                     loops over the taps instead of unfolding.
    depthwise_last_width: below this output width (one filter per channel) those loops run channels last.
    depthwise_flat_width: from this output width, stride-1 depthwise layers run the flat loops (the planes of a
                     channel end to end, loops/depthwise_flat.py).
    depthwise_flat_bytes: the flat layout of one run of samples of a channel, small enough for the cache.
    act_compiled:    GELU's erf, and ReLU6's, Hardsigmoid's, Hardswish's and SiLU's piecewise passes, run numba's
                     loops where numba is installed.
    norm_compiled:   GroupNorm, InstanceNorm and LayerNorm run numba's row loops where numba is installed.
    bn_compiled:     BatchNorm's per-channel sums and elementwise passes run numba's plane loops (loops/batchnorm.py)
                     where numba is installed, else NumPy's reductions.
    """
    chunk_bytes: int = 2 << 20
    cache_bytes: int = 16 << 20
    rows: bool = True
    batched_area: int = 16
    dw_rows: int = 64
    dw_filters: int = 8
    winograd_chunk_bytes: int = 1 << 20
    winograd_rules: tuple[tuple[int, int, int], ...] = ((16, 32, 1024), (32, 16, 512), (64, 8, 128),
                                                        (6, 128, 32768), (12, 48, 8192), (24, 16, 1024))
    winograd_dw_batched: int = 512
    winograd_dw_chunk_bytes: int = 8 << 20
    winograd_infer_rules: tuple[tuple[int, int, int], ...] = ((8, 32, 1024), (16, 12, 1024), (32, 8, 512),
                                                              (64, 8, 256))
    pool_split_bytes: int = 2 << 20
    relu_split_bytes: int = 1 << 20
    relu_compiled: bool = True
    linear_split_work: int = 1 << 24
    linear_transposed_rows: int = 64
    norm_chunk_bytes: int = 1 << 20
    act_split_bytes: int = 1 << 20
    act_chunk_bytes: int = 256 << 10
    act_compiled: bool = True
    norm_compiled: bool = True
    bn_compiled: bool = True
    depthwise: bool = True
    depthwise_last_width: int = 32
    depthwise_flat_width: int = 8
    depthwise_flat_bytes: int = 64 << 10


DEFAULT = Tuning()
