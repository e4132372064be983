"""`cnnumpy train`: the run's settings (a resumed run's own, then the defaults), its folder, optimizer and
schedule, and the fit loop with a checkpoint at each epoch's end."""
import time
from pathlib import Path

import numpy as np

from .args import SAME_RUN, TRAIN_DEFAULTS, UsageError
from .datasets import data_dir_checked, limited


def make_optimizer(args, params):
    from .. import optim
    lr = args.lr or (0.01 if args.optimizer == "sgd" else 0.001)
    if args.optimizer == "sgd":
        return optim.SGD(params, lr=lr, momentum=args.momentum, weight_decay=args.weight_decay)
    if args.optimizer == "rmsprop":
        return optim.RMSprop(params, lr=lr, momentum=args.momentum, weight_decay=args.weight_decay)
    if args.optimizer == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=args.weight_decay or 0.01)
    return optim.Adam(params, lr=lr, weight_decay=args.weight_decay)


def make_scheduler(args, optimizer, steps_per_epoch):
    """(scheduler, when it steps). Without --warmup: OneCycle per batch, the others per epoch. With it: a linear
    warm-up over its epochs, then the schedule over the remaining ones, everything stepped per batch."""
    from ..optim import lr_scheduler
    if args.warmup:
        steps = steps_per_epoch
        warm = lr_scheduler.LinearLR(optimizer, start_factor=0.1, end_factor=1.0, total_iters=args.warmup * steps)
        rest = args.epochs - args.warmup
        if args.scheduler == "none":
            return warm, "batch"
        if args.scheduler == "step":
            main = lr_scheduler.StepLR(optimizer, step_size=max(1, rest // 3) * steps, gamma=0.1)
        else:
            main = lr_scheduler.CosineAnnealingLR(optimizer, T_max=rest * steps)
        return lr_scheduler.SequentialLR(optimizer, [warm, main], milestones=[args.warmup * steps]), "batch"
    if args.scheduler == "step":
        return lr_scheduler.StepLR(optimizer, step_size=max(1, args.epochs // 3), gamma=0.1), "epoch"
    if args.scheduler == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs), "epoch"
    if args.scheduler == "onecycle":
        max_lr = optimizer.param_groups[0]["lr"]
        return lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, epochs=args.epochs,
                                       steps_per_epoch=steps_per_epoch), "batch"
    return None, "epoch"


def settle(args, ckpt, defaults=TRAIN_DEFAULTS):
    """The run's settings: a resumed run's own (a flag given again must agree), then `defaults`. Checks the
    flags that depend on each other. Returns args."""
    if ckpt is not None:
        saved = ckpt["spec"].get("args") if ckpt["spec"] else None
        if saved is None:
            raise UsageError(f"--resume: {args.resume} was not written by cnnumpy train (it does not record the run's "
                             "settings); to train its weights further start a new run from them: --weights")
        for key in SAME_RUN:
            given, own = getattr(args, key, None), saved.get(key, defaults.get(key))
            if key == "lr" and own is None:  # the run used the optimizer's default lr
                own = 0.01 if saved.get("optimizer", "sgd") == "sgd" else 0.001
            if given not in (None, False) and given != own:
                flag = "--" + key.replace("_", "-")
                raise UsageError(
                    f"{flag}: a resumed run keeps its own settings ({flag} {own} in {args.resume}), so that it goes "
                    f"on as if never stopped; to train these weights with {flag} {given}, start a new run from "
                    f"them: --weights {args.resume}")
            setattr(args, key, own)
        for key in ("early_stop", "method", "data_dir"):
            if getattr(args, key) is None and saved.get(key) is not None:
                setattr(args, key, Path(saved[key]) if key == "data_dir" else saved[key])
        planned, done = saved.get("epochs", defaults["epochs"]), int(ckpt["epoch"])
        args.epochs = args.epochs or planned
        if args.epochs <= done:
            raise UsageError(f"--epochs: the checkpoint has already done {done} epochs; ask for more than that")
        if args.epochs != planned and args.scheduler in ("cosine", "onecycle"):
            what = {"cosine": "anneals the lr to 0 at its end; going on past it raises the lr again",
                    "onecycle": "ends at its last planned batch; it cannot step further"}[args.scheduler]
            raise UsageError(
                f"--epochs: this run's {args.scheduler} schedule was planned for {planned} epochs and {what}. "
                f"Resume it to its end with --epochs {planned}, or train these weights further in a new run with a "
                f"schedule of its own: --weights {args.resume} --epochs {args.epochs - done}")
    for key, value in defaults.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.warmup and args.scheduler == "onecycle":
        raise UsageError("--warmup: the onecycle schedule warms up by itself (its first 30 % of the steps); "
                         "drop --warmup or pick another --scheduler")
    from ..functional.tuned.threads import cores
    if args.processes > cores():  # more would wait for each other's cores (and 1000 start 999 workers)
        raise UsageError(f"--processes: expected at most {cores()}, the cores this process may use, got "
                         f"{args.processes}")
    if args.warmup >= args.epochs:
        raise UsageError(f"--warmup: expected fewer warm-up epochs than --epochs ({args.epochs}), got {args.warmup}")
    return args


def run_folder(args, model_name):
    """The folder a run writes into: --out, the resumed run's own, or runs/MODEL-DATE-TIME (a new name)."""
    if args.out is None and args.resume is not None:
        return args.resume.parent
    if args.out is None:
        base = Path("runs") / f"{model_name}-{time.strftime('%Y%m%d-%H%M%S')}"
        out, k = base, 2
        while out.exists():
            out, k = base.with_name(f"{base.name}-{k}"), k + 1
        return out
    out = args.out
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: {out} is a file; expected a folder for the run (checkpoint.npz, history.json, "
                         "curves.png)")
    resuming_here = args.resume is not None and out.resolve() == args.resume.parent.resolve()
    if (out / "checkpoint.npz").exists() and not resuming_here and not args.overwrite:
        raise UsageError(f"--out: {out} already holds a run (checkpoint.npz); pass --overwrite to replace it, "
                         f"--resume {out / 'checkpoint.npz'} to continue it, or another --out")
    return out


def task_of(args, dataset):
    """--task must be the data set's: its labels are one per image (classify) or one per pixel (segment)."""
    if args.task is not None and args.task != dataset.task:
        has = {"classify": "one label per image", "segment": "a label per pixel"}
        raise UsageError(f"--task: {args.task} needs a data set with {has[args.task]}, but --data {args.data} has "
                         f"{has[dataset.task]} (task {dataset.task})")
    args.task = dataset.task


def model_options(args, dataset, start_from):
    """The builder's arguments besides method, in_channels and num_classes: --depth and --width (a U-Net's), else
    those of the --weights checkpoint's model, else the data set's defaults for its own model. Sets args.depth and
    args.width to the values used, so that a resumed run builds the same network."""
    import inspect

    from .. import models
    takes = inspect.signature(models.MODELS[args.model]).parameters
    if "num_classes" not in takes:
        raise UsageError(f"--model: {args.model} has no classes to train for (expected a classifier, or unet with "
                         f"--task segment); train it from Python, as docs/models.md shows")
    for flag in ("depth", "width"):
        if getattr(args, flag) is not None and flag not in takes:
            raise UsageError(f"--{flag}: {args.model} has no {flag}; it is an option of unet")
    if start_from is not None and start_from["spec"]["model"] == args.model:
        base = start_from["spec"].get("kwargs", {})
    else:
        base = dataset.model_kwargs if args.model == dataset.model else {}
    options = {k: v for k, v in base.items() if k in takes and k not in ("method", "in_channels", "num_classes")}
    for flag in ("depth", "width"):
        if getattr(args, flag) is not None:
            options[flag] = getattr(args, flag)
        setattr(args, flag, options.get(flag))
    return options


def onnx_graph(args, ckpt, start_from):
    """The bytes of the ONNX file the run's model is made from, or None for a model by name: --init's file (which
    sets --model to "onnx"), or the graph a resumed or --weights checkpoint keeps. --replace-head needs --init."""
    from ..checkpoint.schema import MAX_GRAPH_BYTES, ONNX
    if args.init is None:
        if args.replace_head is not None and ckpt is None:
            raise UsageError("--replace-head: only with --init MODEL.onnx (a checkpoint's model keeps its head; "
                             "train a named model for other classes with --model)")
        kept = next((c for c in (ckpt, start_from) if c is not None and "graph" in c), None)
        return kept["graph"]["onnx"].tobytes() if kept is not None else None
    if args.model not in (None, ONNX):
        raise UsageError(f"--model: --init takes the model from {args.init}; drop --model {args.model}")
    if not args.init.is_file():
        raise UsageError(f"--init: no file at {args.init}" if not args.init.exists() else
                         f"--init: {args.init} is not a file")
    if args.init.stat().st_size > MAX_GRAPH_BYTES:
        raise UsageError(f"--init: {args.init} is larger than {MAX_GRAPH_BYTES:,} bytes")
    args.model = ONNX
    graph = args.init.read_bytes()
    from .. import onnx
    onnx.load(graph)  # checked whole now: a bad file is one line before any data is read
    return graph


def onnx_options(args, info, start_from):
    """spec.kwargs of a run from an ONNX file: {"num_classes": N} when its head is replaced (N: the data set's
    classes, which --replace-head N must name if it gives a number), else none; a --weights checkpoint's own."""
    if start_from is not None:
        return dict(start_from["spec"].get("kwargs", {}))
    if args.replace_head is None:
        return {}
    classes = len(info["classes"])
    if args.replace_head not in (0, classes):
        raise UsageError(f"--replace-head: --data {args.data} has {classes} classes; expected --replace-head "
                         f"{classes} (or no number), got {args.replace_head}")
    args.replace_head = classes
    return {"num_classes": classes}


def check_model(args, model, info):
    """One blank image through the model before any data is read: a model that does not take the data set's
    images, or whose output is not what --task needs (a score per class for the image, or per class and pixel),
    is a user mistake."""
    shape = tuple(info["shape"])
    segment = args.task == "segment"
    hint = "; --task segment needs a model with a label per pixel, such as unet" if segment else ""
    flag = f"--model: {args.model}" if args.init is None else f"--init: the model in {args.init}"
    try:
        out = np.shape(model.eval()(np.zeros((1,) + shape, np.float32)))
    except ValueError as e:
        raise UsageError(f"{flag} does not take {args.data} images of shape {shape}: {e}{hint}") from None
    if segment and out != (1, len(info["classes"])) + shape[1:]:
        raise UsageError(f"{flag} gives outputs of shape {out[1:]} for an image of shape {shape}, not "
                         f"a score per class and pixel {(len(info['classes']),) + shape[1:]}{hint}")
    if not segment and len(out) != 2:
        raise UsageError(f"{flag} gives outputs of shape {out[1:]}, not a score per class; "
                         f"--data {args.data} has one label per image: pick a classifier such as lenet5 or resnet8")
    if not segment and out[1] != len(info["classes"]):
        raise UsageError(f"{flag} gives {out[1]} scores, but --data {args.data} has {len(info['classes'])} classes; "
                         "add --replace-head to train a new head for them")


def train(args, datasets, run=None):
    """`cnnumpy train`; datasets: the registry --data names an entry of. run: this rank's part of a --distributed
    run (cli/distributed.py), which calls train again with it."""
    if getattr(args, "distributed", False) and run is None:
        from . import distributed
        return distributed.train(train, args, datasets)
    if getattr(args, "sync_bn", False) and not args.distributed:
        raise UsageError("--sync-bn: only with --distributed (mpiexec -n N cnnumpy train --distributed --sync-bn)")
    import cnnumpy

    from .. import checkpoint, models, nn
    from ..callbacks import EarlyStopping
    from ..data import Compose, DataLoader
    from ..data.registry import normalize
    from ..train import History, fit

    ckpt = checkpoint.load_checkpoint(args.resume) if args.resume is not None else None
    start_from = checkpoint.load_checkpoint(args.weights) if args.weights is not None else None
    if start_from is not None and not start_from["spec"]:
        raise UsageError(f"--weights: {args.weights} does not say which model its weights are for (no spec)")
    if start_from is not None:  # the same model and data as the checkpoint's, unless asked otherwise
        args.model = args.model or start_from["spec"]["model"]
        args.data = args.data or start_from["spec"]["data"]["name"]
    graph = onnx_graph(args, ckpt, start_from)
    args = settle(args, ckpt, {"data": next(iter(datasets)), **TRAIN_DEFAULTS})
    dataset = datasets[args.data]
    args.model = args.model or dataset.model
    task_of(args, dataset)
    quiet, progress = args.quiet, not (args.quiet or args.no_progress)
    say = (lambda *a, **k: None) if quiet else print
    if run is not None and run.rank != 0:  # rank 0 speaks for all
        say, progress = (lambda *a, **k: None), False
    cnnumpy.manual_seed(args.seed)
    info = dataset.info()
    if graph is not None:
        kwargs = onnx_options(args, info, start_from)
    else:
        kwargs = {"method": args.method, "in_channels": info["shape"][0], "num_classes": len(info["classes"]),
                  **model_options(args, dataset, start_from)}
    spec = {"model": args.model, "kwargs": kwargs, "data": info,
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "func"}}
    model = checkpoint.rebuild(spec, {"onnx": np.frombuffer(graph, np.uint8)} if graph is not None else None)
    check_model(args, model, info)
    model.train()
    if start_from is not None:
        try:
            model.load_state_dict(start_from["model"])
        except (KeyError, ValueError) as e:
            raise UsageError(f"--weights: the weights in {args.weights} do not fit {args.model} for {args.data}: "
                             f"{e}") from None
    if args.freeze_body:
        from ..onnx.finetune import freeze_body
        head = freeze_body(model)
        say(f"cnnumpy: training the head {head} alone ({sum(p.data.size for p in model.parameters() if p.requires_grad):,}"
            " parameters); the rest is frozen")
    out = run_folder(args, args.model)
    transform = normalize(spec["data"])
    data_dir = data_dir_checked(dataset, args.data_dir)
    train_set, test_set, source = dataset.splits(data_dir, args.download, transform, progress)
    spec["data"].update(source)
    if args.limit:
        train_set = limited(train_set, args.limit, args.seed, transform)
    augment = dataset.augment(args.seed) if args.augment else []
    if augment:
        train_set.transform = Compose(augment + [transform])
    loader = DataLoader(train_set, args.batch_size, shuffle=True, seed=args.seed)
    test_loader = DataLoader(test_set, 256)
    if run is not None:  # this rank's shards; --batch-size images per rank and step
        loader, test_loader = run.loaders(train_set, test_set, args.batch_size, args.seed)
        spec["args"]["world_size"] = run.size
    if ckpt is not None:
        from .distributed import check_resume
        check_resume(args, ckpt, run.size if run is not None else 1)
    optimizer = make_optimizer(args, model.parameters())
    scheduler, scheduler_step = make_scheduler(args, optimizer, len(loader))
    history, start = History(), 0
    if ckpt is not None:
        checkpoint.restore(ckpt, model, optimizer, scheduler, {f"augment{i}": t.rng for i, t in enumerate(augment)})
        history, start = History(ckpt["history"]), ckpt["epoch"]
    spec["args"]["out"] = str(out)  # the folder is made by the first save: a run that fails before leaves nothing
    split = f", {args.processes} processes" if args.processes > 1 else ""
    if run is not None:
        split = (f", {run.size} ranks of {args.batch_size} images a step, {run.threads} thread"
                 f"{'s' if run.threads > 1 else ''} each")
        if args.sync_bn:
            split += ", BatchNorm over all ranks"
    from_ = f", from epoch {start}" if start else (f", from the weights of {args.weights}" if start_from else "")
    say(f"cnnumpy: training {args.model} ({sum(p.data.size for p in model.parameters()):,} parameters, "
        f"method {args.method}{split}) on {len(train_set):,} images, testing on {len(test_set):,}{from_}; "
        f"run folder {out}")

    def save(epoch, hist):
        if run is not None and run.rank != 0:  # rank 0 alone writes the run folder
            return
        checkpoint.save_checkpoint(out / "checkpoint.npz", model, optimizer, scheduler, epoch, spec, hist,
                                   data_rngs={f"augment{i}": t.rng for i, t in enumerate(augment)}, graph=graph)
        hist.save(out / "history.json")
        hist.plot(out / "curves.png", val_label="test")
        r = hist.records[-1]
        # printed as each epoch ends, so a run without the progress bar still shows how it goes
        acc = "pixel acc" if args.task == "segment" else "acc"
        iou = f" mean IoU {r['val_miou']:.4f}" if r.get("val_miou") is not None else ""
        say(f"epoch {r['epoch']}: train loss {r['train_loss']:.4f} {acc} {r['train_acc']:.4f} | "
            f"test loss {r['val_loss']:.4f} {acc} {r['val_acc']:.4f}{iou} | {r['seconds']:.1f} s, "
            f"{r['images_per_s']:.0f} images/s", flush=True)

    callbacks = [EarlyStopping("val_loss", patience=args.early_stop)] if args.early_stop else []
    if run is not None:
        callbacks.append(run.watchdog)
    # the checkpoints keep the module itself, so a run trained on several processes loads anywhere
    runner = nn.DataParallel(model, processes=args.processes) if args.processes > 1 else model
    if run is not None:
        runner = run.wrap(model, args.sync_bn)
    try:
        history = fit(runner, nn.CrossEntropyLoss(), optimizer, loader, test_loader, args.epochs, scheduler,
                      scheduler_step, start_epoch=start, history=history, on_epoch_end=save, progress=progress,
                      callbacks=callbacks, clip_grad_norm=args.clip_grad,
                      reduce=run.reduce if run is not None else None)
    finally:
        if runner is not model and run is None:
            runner.close()
    last = history.records[-1]
    if run is not None and run.rank != 0:
        return 0
    if args.task == "segment":
        print(f"test mean IoU: {last['val_miou']:.4f}, pixel accuracy: {last['val_acc']:.4f}")
    else:
        print(f"test accuracy: {last['val_acc']:.4f}")
    print(f"wrote {out / 'checkpoint.npz'}, {out / 'history.json'}, {out / 'curves.png'}")
    return 0
