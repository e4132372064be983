"""numba's compiled loops of the tuned methods, imported by compiled.kernels on first use."""
