"""Settings for the whole suite."""
import torch

# The parity tests run thousands of tiny torch calls: one thread avoids the thread pool's wake-up cost on every
# call (it made each call ~100x slower on a loaded 2-core machine) and changes no result.
torch.set_num_threads(1)
