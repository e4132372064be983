"""The tuned path: the same math as the files above this folder, made fast.

Everything here is an optimisation of a readable function one folder up, and is tested against it:
the im2col engine (engine.py) and the conv and pooling methods built on it, numba's compiled loops
(loops/, loaded by compiled.py), Winograd's transforms, the thread pool that splits a batch (threads.py),
the worker processes that nn.DataParallel splits it over (processes.py, their shared memory in blocks.py),
the malloc setting (memory.py), and the one object of tuning knobs they read (config.py).
"""
