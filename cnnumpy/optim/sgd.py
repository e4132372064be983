"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay (torch.optim.SGD)."""
import numpy as np

from .optimizer import Closure, Optimizer, Params, number


class SGD(Optimizer):
    """theta <- theta - lr * d, with d the gradient after weight decay and momentum.

    For each parameter theta with gradient g, at step t:

        g <- -g                              if maximize
        g <- g + weight_decay * theta        (L2 penalty weight_decay/2 * |theta|^2)
        b_t = g                              at the first step (t = 1)
        b_t = momentum * b_{t-1} + (1 - dampening) * g      afterwards
        d = g + momentum * b_t   if nesterov   else   d = b_t      (d = g when momentum == 0)
        theta <- theta - lr * d

    This is PyTorch's form: the velocity b holds gradients, and lr multiplies it at each
    step (Sutskever et al. put lr inside b), so changing lr mid-run takes effect at once.
    State per parameter: {"momentum_buffer": b} once stepped with momentum != 0.
    """

    def __init__(self, params: Params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False) -> None:
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
                    "nesterov": nesterov, "maximize": maximize}
        super().__init__(params, defaults)

    def _check(self, group):
        number("lr", group["lr"])
        number("momentum", group["momentum"])
        number("dampening", group["dampening"], minimum=float("-inf"))
        number("weight_decay", group["weight_decay"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"nesterov: expected momentum > 0 and dampening == 0 with nesterov=True, "
                             f"got momentum={group['momentum']}, dampening={group['dampening']}")

    def step(self, closure: Closure | None = None) -> float | None:
        """One update of every trained parameter that has a gradient; returns closure() if given."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            lr, momentum = float(group["lr"]), float(group["momentum"])
            dampening, weight_decay = float(group["dampening"]), float(group["weight_decay"])
            for p, g in self._grads(group):
                if group["maximize"]:
                    g = -g
                if weight_decay != 0:
                    g = g + weight_decay * p.data
                if momentum != 0:
                    state = self.state.setdefault(p, {})
                    b = state.get("momentum_buffer")
                    if b is None:
                        # np.array, not g.copy(): for a 0-d parameter g may be a NumPy scalar,
                        # which `b *= momentum` would replace instead of updating in place
                        state["momentum_buffer"] = b = np.array(g)
                    else:
                        b *= momentum
                        # without dampening (the default) no scaled copy of g: one pass less over each parameter
                        b += g if dampening == 0 else (1 - dampening) * g
                    g = g + momentum * b if group["nesterov"] else b
                p.data -= lr * g
        return loss
