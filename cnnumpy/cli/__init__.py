"""The `cnnumpy` command: train, evaluate and predict; look inside a network (summary, show) and run the demo.

User mistakes (a missing file, a bad flag value, an unreadable image or checkpoint) end with one line on stderr
and exit code 2; set CNNUMPY_DEBUG=1 to see the traceback instead. Notices (which data is used, early stopping)
go to stderr through the "cnnumpy" logger; --quiet keeps only the results and the errors.

The flags are in args.py, `train` in train.py (by a recipe: recipe.py), the other commands in inspect.py; the
data sets the command knows are cnnumpy.data.registry's (main's `datasets` takes another registry).
"""
import logging
import os
import sys

from ..data.registry import DATASETS
from ..functional.tuned.memory import keep_freed_memory
from . import explain, inspect, onnx_files, recipe, train
from .args import UsageError, parser

log = logging.getLogger("cnnumpy")


def train_command(args, datasets):
    """`cnnumpy train`: by a published recipe (--recipe, recipe.py), else by its flags (train.py)."""
    return (recipe.train if args.recipe else train.train)(args, datasets)


COMMANDS = {"bench": inspect.bench, "train": train_command, "evaluate": inspect.evaluate, "predict": inspect.predict,
            "summary": inspect.summary, "show": inspect.show, "demo": inspect.demo, "export": onnx_files.export}
COMMANDS.update({"explain": explain.explain, "attack": explain.attack, "visualize": explain.visualize,
                 "show": explain.show})  # issue 19: what the network sees (explain.py); show gradients too
# the commands that also take a model.onnx where they take a checkpoint
ONNX = {"evaluate": onnx_files.evaluate, "predict": onnx_files.predict, "summary": onnx_files.summary}


def main(argv=None, datasets=None):
    """Run the command in argv (default sys.argv[1:]); returns its exit code. datasets: the registry of data sets
    (default cnnumpy.data.registry.DATASETS)."""
    datasets = DATASETS if datasets is None else datasets
    args = parser(datasets).parse_args(argv)
    keep_freed_memory()  # every command runs layers; steps then reuse memory instead of faulting fresh pages
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("cnnumpy: %(message)s"))
    level = log.level
    log.addHandler(handler)
    log.setLevel(logging.WARNING if args.quiet else logging.INFO)
    try:
        if args.command in ONNX and onnx_files.is_onnx(getattr(args, "checkpoint", None)):
            return ONNX[args.command](args, datasets)
        onnx_files.no_onnx_flags(args)
        return COMMANDS[args.command](args, datasets)
    except KeyboardInterrupt:
        print("cnnumpy: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`cnnumpy evaluate CKPT | head`): not an error of ours, nothing more to say
        sys.stderr.close()
        return 0
    except (UsageError, OSError, ValueError, TypeError, FloatingPointError, ImportError, MemoryError) as e:
        if os.environ.get("CNNUMPY_DEBUG"):
            raise
        # one line, whatever the exception's text holds (a download's reasons come one mirror a line)
        message = "; ".join(line.strip() for line in str(e).splitlines() if line.strip()) or type(e).__name__
        if isinstance(e, MemoryError):
            message = f"not enough memory for this command ({message})"
        print(f"cnnumpy: error: {message}", file=sys.stderr)
        return 2
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
