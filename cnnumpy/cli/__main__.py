"""python -m cnnumpy.cli: the same as the `cnnumpy` command."""
import sys

from . import main

sys.exit(main())
