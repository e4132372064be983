"""numba's compiled loops of the tuned path, one module per operation, imported only where numba is installed."""
