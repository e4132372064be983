"""The commands of what a network sees (cnnumpy.explain): `explain` (an attribution map of one image), `attack`
(adversarial examples on the test set), `visualize` (a class's preferred input) and `show gradients` (the
backward pass of one image, layer by layer).

They run the checkpoint's model on pixels in [0, 1]: Pixels puts the checkpoint's normalisation in front of it,
so that gradients are per pixel, an attack's eps and clipping are in pixel units, and integrated gradients start
from a black image.
"""
import numpy as np

from ..nn.module import Module
from .args import UsageError


class Pixels(Module):
    """model on pixels: y = model((x - mean) / std), mean and std per channel; dL/dx = model's dL/dx' / std."""

    def __init__(self, model: Module, mean, std) -> None:
        super().__init__()
        self.model = model
        self.mean = np.asarray(mean, np.float64).reshape(-1, 1, 1)
        self.std = np.asarray(std, np.float64).reshape(-1, 1, 1)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.model((x - self.mean.astype(x.dtype)) / self.std.astype(x.dtype))

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        dx = self.model.backward(dout, input_grad=input_grad)
        return None if dx is None else dx / self.std.astype(dx.dtype)

    def compute_output_shape(self, input_shape):
        return self.model.compute_output_shape(input_shape)


def load(args):
    """(checkpoint, its model, the model on pixels, class names) for a classifying checkpoint."""
    from .. import checkpoint
    ckpt = checkpoint.load_checkpoint(args.checkpoint)
    data = ckpt["spec"]["data"]
    if data.get("task") == "segment":
        raise UsageError(f"checkpoint: {args.checkpoint} segments images; `{args.command}` explains a classifier")
    model = checkpoint.build_model(ckpt)
    return ckpt, model, Pixels(model, data["mean"], data["std"]), list(data["classes"])


def class_index(text, classes, flag="--target"):
    """A class given by index ("3") or by name ("cat") -> its index."""
    if text is None:
        return None
    if text in classes:
        return classes.index(text)
    try:
        k = int(text)
    except ValueError:
        k = None
    if k is None or not 0 <= k < len(classes):
        shown = ", ".join(classes[:10]) + (", ..." if len(classes) > 10 else "")
        raise UsageError(f"{flag}: expected a class index in [0, {len(classes)}) or a name ({shown}), got {text!r}")
    return k


def image_pixels(path, spec):
    """An image file -> (1, C, H, W) float32 pixels in [0, 1], read as `predict` reads it."""
    from .inspect import model_input
    data = spec["data"]
    x = model_input(path, spec)
    mean = np.asarray(data["mean"], np.float32).reshape(-1, 1, 1)
    std = np.asarray(data["std"], np.float32).reshape(-1, 1, 1)
    return np.clip(x * std + mean, 0, 1)


def image_layers(model, x):
    """[(name, layer, output)] of the layers of model whose output is an image batch (4-D), in the order model(x)
    finishes them; read with forward hooks."""
    seen = []
    handles = [m.register_forward_hook(lambda layer, args, y, name=name: seen.append((name, layer, y)))
               for name, m in model.named_modules() if m is not model]
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    return [(name, layer, y) for name, layer, y in seen if np.ndim(y) == 4]


def cam_layer(model, x, name):
    """(name, layer) of gradcam: `name` in model.named_modules(), or by default the last layer whose output is an
    image of more than one position (the head comes after it), the innermost of those that return that very
    output (a Sequential finishes after its last layer, with the same array). x: the model's input."""
    layers = image_layers(model, x)
    if name is not None:
        found = dict(model.named_modules()).get(name)
        if found is None or found is model:
            shown = ", ".join(n for n, _, _ in layers[-8:])
            raise UsageError(f"--layer: no layer {name!r} in the model" +
                             (f"; the last layers with image outputs are {shown}" if layers else ""))
        return name, found
    spatial = [entry for entry in layers if entry[2].shape[2] * entry[2].shape[3] > 1]
    if not spatial:
        raise UsageError("--method gradcam: the model has no layer with an image output of more than one position")
    i = len(spatial) - 1
    while i > 0 and spatial[i - 1][2] is spatial[i][2]:
        i -= 1
    return spatial[i][0], spatial[i][1]


def explained(args, datasets):
    """(model, model on pixels, class names, image as pixels (1, C, H, W)) of `explain`: from a checkpoint, or from
    a model.onnx with the flags that say what its inputs are (cli/onnx_files.py)."""
    from . import onnx_files
    if not onnx_files.is_onnx(args.checkpoint):
        for flag in ("data", "mean", "std", "labels", "input_shape"):
            if getattr(args, flag) is not None:
                raise UsageError(f"--{flag.replace('_', '-')}: only for an ONNX model (a model.onnx); the checkpoint "
                                 f"{args.checkpoint} carries its own")
        ckpt, model, net, classes = load(args)
        return model, net, classes, image_pixels(args.image, ckpt["spec"])
    model = onnx_files.load(args.checkpoint)
    shape = onnx_files.shape_of(args, args.checkpoint, model)
    mean, std = onnx_files.normalisation(args, shape[0], datasets)
    x = onnx_files.read_image(args.image, shape, mean, std) * std[:, None, None] + mean[:, None, None]
    net = Pixels(model, mean, std)
    try:
        scores = net(x)
    except ValueError as e:
        raise UsageError(f"model: {args.checkpoint} does not take images of shape {shape}: {e}") from None
    if scores.ndim != 2:
        raise UsageError(f"model: {args.checkpoint} gives outputs of shape {scores.shape[1:]} per image, not a "
                         "score per class")
    return model, net, onnx_files.read_labels(args.labels, scores.shape[1]), np.clip(x, 0, 1).astype(np.float32)


def explain(args, datasets):
    from .. import explain as methods, viz
    if args.layer is not None and args.method != "gradcam":
        raise UsageError(f"--layer: only with --method gradcam, got --method {args.method}")
    model, net, classes, x = explained(args, datasets)
    scores = net(x)[0]
    pred = int(scores.argmax())
    target = class_index(args.target, classes)
    target = pred if target is None else target
    what = {"saliency": "saliency |dS/dx|", "smoothgrad": "SmoothGrad", "ig": "integrated gradients",
            "guided": "guided backprop"}.get(args.method)
    if args.method == "saliency":
        a = methods.saliency(net, x, target)
    elif args.method == "smoothgrad":
        a = methods.smoothgrad(net, x, target)
    elif args.method == "ig":
        a = methods.integrated_gradients(net, x, target, steps=args.steps)
    elif args.method == "guided":
        a = methods.guided_backprop(net, x, target)
    else:
        name, layer = cam_layer(model, (x - net.mean.astype(x.dtype)) / net.std.astype(x.dtype), args.layer)
        a = methods.grad_cam(net, x, target, layer=layer)
        what = f"Grad-CAM at {name} ({type(layer).__name__})"
    z = np.exp(scores - scores.max())
    title = (f"{args.image.name}: {what} of class {classes[target]} (score {scores[target]:.3g}); predicted "
             f"{classes[pred]} (probability {z[pred] / z.sum():.3f})")
    if args.method == "ig":  # completeness: the attributions add up to the score's change from the baseline
        black = net(np.zeros_like(x))[0, target]
        title += f"\nsum of the attributions {np.sum(a):.4g}, S(x) - S(black) = {scores[target] - black:.4g}"
    out = png_path(args.out, args.checkpoint.parent / f"{args.method}-{args.image.stem}.png")
    print(viz.plot_attribution(x[0], np.asarray(a)[0], out, what, title))
    return 0


def attack(args, datasets):
    from .. import explain as methods, nn, viz
    from ..train import predict
    from .datasets import limited, load_test_set
    ckpt, model, net, classes = load(args)
    data = ckpt["spec"]["data"]
    test_set, what = load_test_set(ckpt["spec"], args.data_dir, datasets, progress=not args.quiet)
    if args.limit is not None:
        test_set = limited(test_set, args.limit, args.seed, test_set.transform)
        what = f"{len(test_set):,} images drawn from {what}"
    x, y = test_set.batch(np.arange(len(test_set)))
    mean = np.asarray(data["mean"], x.dtype).reshape(-1, 1, 1)
    std = np.asarray(data["std"], x.dtype).reshape(-1, 1, 1)
    x = np.clip(x * std + mean, 0, 1).astype(x.dtype)
    alpha = args.eps / 4 if args.alpha is None else args.alpha
    loss = nn.CrossEntropyLoss()
    adv = np.empty_like(x)
    for i in range(0, len(x), args.batch_size):
        xb, yb = x[i:i + args.batch_size], y[i:i + args.batch_size]
        if args.method == "fgsm":
            adv[i:i + len(xb)] = methods.fgsm(net, loss, xb, yb, args.eps, clip=(0.0, 1.0))
        else:
            adv[i:i + len(xb)] = methods.pgd(net, loss, xb, yb, args.eps, alpha, steps=args.steps, clip=(0.0, 1.0),
                                             seed=args.seed + i)
    clean_pred = predict(net, x, args.batch_size).argmax(axis=1)
    adv_pred = predict(net, adv, args.batch_size).argmax(axis=1)
    clean_acc, adv_acc = float((clean_pred == y).mean()), float((adv_pred == y).mean())
    how = f"FGSM eps {args.eps:g}" if args.method == "fgsm" else \
        f"PGD eps {args.eps:g}, {args.steps} steps of {alpha:g}"
    print(f"{args.checkpoint}: {how} on {what}: clean accuracy {clean_acc:.4f}, adversarial accuracy "
          f"{adv_acc:.4f}")
    shown = np.unique(np.linspace(0, len(x) - 1, min(args.count, len(x))).round().astype(int))  # spread out: sets
    # stored class by class (CIFAR-10's folders) would otherwise show one class
    title = (f"{how} (pixels in [0, 1]): accuracy {clean_acc:.3f} clean, {adv_acc:.3f} adversarial on "
             f"{len(x):,} test images; red: wrong")
    out = png_path(args.out, args.checkpoint.parent / f"attack-{args.method}.png")
    print(viz.plot_attack(x[shown], adv[shown], y[shown], clean_pred[shown], adv_pred[shown], out, args.eps, classes,
                          title))
    return 0


def visualize(args, datasets):
    from .. import explain as methods, viz
    ckpt, model, net, classes = load(args)
    target = class_index(args.target, classes, "--class")
    shape = tuple(ckpt["spec"]["data"]["shape"])
    knobs = {k: getattr(args, k) for k in ("lr", "l2", "jitter", "blur_every", "blur_sigma")
             if getattr(args, k) is not None}  # the rest: class_visualization's defaults
    image, scores = methods.class_visualization(net, target, shape, steps=args.steps, clip=(0.0, 1.0),
                                                seed=args.seed, **knobs)
    p = net(np.asarray(image, np.float32)[None])[0]
    z = np.exp(p - p.max())
    title = (f"class {classes[target]}: gradient ascent on its score from noise, {args.steps} steps; the model "
             f"gives it probability {z[target] / z.sum():.3f}")
    out = png_path(args.out, args.checkpoint.parent / f"class-{classes[target]}.png")
    print(viz.plot_class_visualization(image, scores, out, title))
    return 0


def show_gradients(args, datasets):
    from .. import checkpoint, viz
    from .inspect import model_input
    ckpt = checkpoint.load_checkpoint(args.checkpoint)
    model = checkpoint.build_model(ckpt)
    classes = list(ckpt["spec"]["data"]["classes"])
    x = model_input(args.image, ckpt["spec"])
    out = png_path(args.out, args.checkpoint.parent / f"gradients-{args.image.stem}.png")
    print(viz.plot_gradient_maps(model, x, out, target=class_index(args.target, classes),
                                 max_channels=args.channels, classes=classes))
    return 0


def show(args, datasets):
    """`show`: gradients here, the other pictures in inspect.py."""
    from . import inspect
    return show_gradients(args, datasets) if args.what == "gradients" else inspect.show(args, datasets)


def png_path(out, default):
    from .inspect import png_path as path
    return path(out, default)
