"""Pictures: training curves (matplotlib, imported only when a picture is asked for)."""
from pathlib import Path


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("pictures need matplotlib: pip install 'cnnumpy[train]'") from None
    matplotlib.use("Agg")  # files only: no display is needed or wanted
    import matplotlib.pyplot as plt
    return plt


def plot_history(history, path):
    """One PNG with two panels: loss and accuracy per epoch, train and validation. Returns the path."""
    plt = _pyplot()
    epochs = history["epoch"]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    for ax, key, title in ((ax_loss, "loss", "loss (cross-entropy)"), (ax_acc, "acc", "accuracy")):
        ax.plot(epochs, history[f"train_{key}"], "o-", label="train")
        val = history[f"val_{key}"]
        if any(v is not None for v in val):
            ax.plot([e for e, v in zip(epochs, val) if v is not None], [v for v in val if v is not None],
                    "s-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
        if len(epochs) < 15:
            ax.set_xticks(epochs)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
