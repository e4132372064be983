"""RMSprop (torch.optim.RMSprop): divide the step by a running root mean square of the gradient."""
import numpy as np

from .optimizer import Closure, Optimizer, Params, number


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e), optionally centered and with momentum.

    For each parameter theta with gradient g, at each step:

        g <- -g                                         if maximize
        g <- g + weight_decay * theta                   (L2 penalty)
        v = alpha * v + (1 - alpha) * g^2               running mean of g^2, v_0 = 0
        a = alpha * a + (1 - alpha) * g                 running mean of g, if centered
        s = sqrt(v - a^2) + eps   if centered   else   s = sqrt(v) + eps
        b = momentum * b + g / s;  theta <- theta - lr * b      if momentum > 0 (b_0 = 0)
        theta <- theta - lr * g / s                             otherwise

    Centered RMSprop divides by an estimate of the standard deviation of g instead of its RMS.
    Unlike Adam there is no bias correction: v starts at 0, so the first steps are large
    (about lr / sqrt(1 - alpha) per coordinate).
    State per parameter: {"step": t, "square_avg": v[, "momentum_buffer": b][, "grad_avg": a]}.
    """

    def __init__(self, params: Params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, *,
                 maximize: bool = False) -> None:
        defaults = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps, "centered": centered,
                    "weight_decay": weight_decay, "maximize": maximize}
        super().__init__(params, defaults)

    def _check(self, group):
        number("lr", group["lr"])
        number("eps", group["eps"])
        number("momentum", group["momentum"])
        number("weight_decay", group["weight_decay"])
        number("alpha", group["alpha"])

    def step(self, closure: Closure | None = None) -> float | None:
        """One update of every trained parameter that has a gradient; returns closure() if given."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            lr, alpha, eps = float(group["lr"]), float(group["alpha"]), float(group["eps"])
            momentum, weight_decay = float(group["momentum"]), float(group["weight_decay"])
            for p, g in self._grads(group):
                state = self.state.setdefault(p, {})
                if not state:
                    state["step"] = 0
                    state["square_avg"] = np.zeros_like(p.data)
                    if momentum > 0:
                        state["momentum_buffer"] = np.zeros_like(p.data)
                    if group["centered"]:
                        state["grad_avg"] = np.zeros_like(p.data)
                state["step"] += 1
                if group["maximize"]:
                    g = -g
                if weight_decay != 0:
                    g = g + weight_decay * p.data
                v = state["square_avg"]
                v *= alpha
                v += (1 - alpha) * g * g
                if group["centered"]:
                    a = state["grad_avg"]
                    a *= alpha
                    a += (1 - alpha) * g
                    s = np.sqrt(v - a * a) + eps
                else:
                    s = np.sqrt(v) + eps
                if momentum > 0:
                    b = state["momentum_buffer"]
                    b *= momentum
                    b += g / s
                    p.data -= lr * b
                else:
                    p.data -= lr * (g / s)
        return loss
