"""python -m cnnumpy: the same as the `cnnumpy` command."""
import sys

from .cli import main

sys.exit(main())
