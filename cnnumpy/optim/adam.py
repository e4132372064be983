"""Adam and AdamW (torch.optim.Adam, torch.optim.AdamW): steps scaled by running moments of the gradient."""
import math

import numpy as np

from .optimizer import Closure, Optimizer, Params, number


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), with optional AMSGrad and L2 or decoupled weight decay.

    For each parameter theta with gradient g, at step t = 1, 2, ...:

        g <- -g                                   if maximize
        theta <- theta * (1 - lr * weight_decay)  if decoupled_weight_decay (AdamW)
        g <- g + weight_decay * theta             otherwise (L2 penalty, goes through the moments)
        m_t = beta1 * m_{t-1} + (1 - beta1) * g           first moment, m_0 = 0
        v_t = beta2 * v_{t-1} + (1 - beta2) * g^2         second moment, v_0 = 0
        v_t <- max(v_max, v_t), kept in v_max             if amsgrad (v never shrinks)
        theta <- theta - lr / (1 - beta1^t) * m_t / (sqrt(v_t) / sqrt(1 - beta2^t) + eps)

    m and v start at zero, so early on they are biased towards zero by factors (1 - beta^t);
    dividing by them (bias correction) gives unbiased estimates. eps is added after the
    correction, as in PyTorch.
    State per parameter: {"step": t, "exp_avg": m, "exp_avg_sq": v[, "max_exp_avg_sq": v_max]}.
    """

    def __init__(self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False) -> None:
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "amsgrad": amsgrad,
                    "maximize": maximize, "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)

    def _check(self, group):
        number("lr", group["lr"])
        number("eps", group["eps"])
        number("weight_decay", group["weight_decay"])
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas: expected a pair (beta1, beta2), got {betas!r}")
        for i, beta in enumerate(betas):
            if not 0 <= number(f"betas[{i}]", beta) < 1:
                raise ValueError(f"betas[{i}]: expected a value in [0, 1), got {beta}")

    def step(self, closure: Closure | None = None) -> float | None:
        """One update of every trained parameter that has a gradient; returns closure() if given."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            lr, eps, weight_decay = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
            beta1, beta2 = (float(b) for b in group["betas"])
            for p, g in self._grads(group):
                state = self.state.setdefault(p, {})
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = np.zeros_like(p.data)
                    state["exp_avg_sq"] = np.zeros_like(p.data)
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = np.zeros_like(p.data)
                state["step"] += 1
                t = state["step"]
                if group["maximize"]:
                    g = -g
                if weight_decay != 0:
                    if group["decoupled_weight_decay"]:
                        p.data *= 1 - lr * weight_decay
                    else:
                        g = g + weight_decay * p.data
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m *= beta1
                m += (1 - beta1) * g
                v *= beta2
                v += (1 - beta2) * g * g
                if group["amsgrad"]:
                    v = np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
                step_size = lr / (1 - beta1 ** t)
                denom = np.sqrt(v) / math.sqrt(1 - beta2 ** t) + eps
                p.data -= step_size * (m / denom)
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019): theta <- theta * (1 - lr * weight_decay)
    before the Adam step, instead of adding weight_decay * theta to the gradient, so the decay
    is not rescaled by 1/sqrt(v). Default weight_decay=1e-2, as in PyTorch."""

    def __init__(self, params: Params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)
