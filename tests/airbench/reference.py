"""airbench94's training loop written in torch from the paper's facts (legacy/airbench94.py of
KellerJordan/cifar10-airbench): the reference our recipe must reproduce step for step."""
import math
from collections import OrderedDict

import torch


def net(widths, momentum=0.4, scale=1 / 9):
    """The network with the reference's keys; its weights are loaded from ours afterwards."""
    def norm(c):
        bn = torch.nn.BatchNorm2d(c, eps=1e-12, momentum=momentum)
        bn.weight.requires_grad = False
        return bn

    def group(i, o):
        return torch.nn.Sequential(OrderedDict([
            ("conv1", torch.nn.Conv2d(i, o, 3, padding=1, bias=False)), ("pool", torch.nn.MaxPool2d(2)),
            ("norm1", norm(o)), ("act1", torch.nn.GELU()), ("conv2", torch.nn.Conv2d(o, o, 3, padding=1, bias=False)),
            ("norm2", norm(o)), ("act2", torch.nn.GELU())]))

    class Mul(torch.nn.Module):
        def forward(self, x):
            return x * scale

    w1, w2, w3 = widths
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 24, 2), torch.nn.GELU(), group(24, w1), group(w1, w2),
                                group(w2, w3), torch.nn.MaxPool2d(3), torch.nn.Flatten(),
                                torch.nn.Linear(w3, 10, bias=False), Mul())
    model[0].weight.requires_grad = False
    return model


def train(model, batches, per_pass, recipe):
    """The reference loop over `batches` [(x, y)] (torch tensors), per_pass of them in each pass: summed
    label-smoothed loss, SGD with the paper's two groups, the triangle schedule, Lookahead every few steps
    and at the end, the whitening bias trained for the first passes only."""
    b = recipe.batch_size
    kilo = 1024 * (1 + 1 / (1 - recipe.momentum))
    lr = recipe.lr / kilo
    wd = recipe.weight_decay * b / kilo
    lr_biases = lr * recipe.bias_scaler
    norms = [p for k, p in model.named_parameters() if "norm" in k and p.requires_grad]
    others = [p for k, p in model.named_parameters() if "norm" not in k and p.requires_grad]
    opt = torch.optim.SGD([dict(params=norms, lr=lr_biases, weight_decay=wd / lr_biases),
                           dict(params=others, lr=lr, weight_decay=wd / lr)], momentum=recipe.momentum, nesterov=True)
    total = len(batches)
    warm = int(total * 0.23)

    def factor(step):
        if step < warm:
            return 0.2 * (1 - step / warm) + step / warm
        frac = (step - warm) / (total - warm)
        return (1 - frac) + 0.07 * frac
    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    alpha = 0.95 ** 5 * (torch.arange(total + 1, dtype=torch.float64) / total) ** 3
    ema = {k: v.clone() for k, v in model.state_dict().items()}

    def lookahead(decay):
        for e, p in zip(ema.values(), model.state_dict().values()):
            if p.dtype.is_floating_point:
                e.lerp_(p, 1 - decay)
                p.copy_(e)

    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing, reduction="none")
    model.train()
    for step, (x, y) in enumerate(batches, 1):
        model[0].bias.requires_grad = (step - 1) // per_pass < recipe.whiten_bias_epochs
        loss = loss_fn(model(x), y).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        scheduler.step()
        if step == total:
            lookahead(1.0)
        elif step % recipe.lookahead_every == 0:
            lookahead(alpha[step].item())
    return model
