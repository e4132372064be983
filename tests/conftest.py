"""Settings for the whole suite."""
import pytest
import torch

# The parity tests run thousands of tiny torch calls: one thread avoids the thread pool's wake-up cost on every
# call (it made each call ~100x slower on a loaded 2-core machine) and changes no result.
torch.set_num_threads(1)


@pytest.fixture
def use_threads():
    """use_threads(n) runs cnnumpy on n threads for the rest of the test; the count before is restored after."""
    from cnnumpy.functional import parallel
    before = parallel.num_threads()
    yield parallel.set_num_threads
    parallel.set_num_threads(before)
