"""Threads for a PyTorch process, as invdiff's setNumThreads sets them.

torch.set_num_threads leaves alone the pool of the OpenBLAS that Debian's PyTorch multiplies matrices in,
so a "one thread" run would still compute every GEMM on all the cores; this sets both.
"""
import ctypes

import torch


def set_threads(n):
    torch.set_num_threads(n)
    try:
        blas = ctypes.CDLL('libblas.so.3')  # the library torch already loaded: the same handle
        blas.openblas_set_num_threads(n)
    except (OSError, AttributeError):  # another BLAS (MKL follows torch.set_num_threads)
        pass
