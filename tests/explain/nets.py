"""Small float64 models for the explain tests (a Sequential, a graph module with a skip and a concatenation, a
Keras-style nn.Model), each the same at every call, and the numerical gradient of one score by central differences."""
import numpy as np

import cnnumpy
from cnnumpy import nn
from cnnumpy.gradcheck import numerical_gradient


def sequential(seed=0, classes=3):
    """(N, 2, 6, 6) -> (N, classes), its weights drawn from `seed`: conv, BatchNorm (non-trivial running statistics), ReLU, max pool, dropout,
    conv, ReLU, linear. Dropout and BatchNorm make training mode differ from eval mode."""
    rng = np.random.default_rng(seed)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, rng=rng), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Dropout(0.5), nn.Conv2d(4, 5, 3, padding=1, rng=rng), nn.ReLU(), nn.Flatten(),
                          nn.Linear(5 * 3 * 3, classes, rng=rng)).double()
    bn = model[1]
    bn.running_mean = rng.standard_normal(4) * 0.1
    bn.running_var = rng.uniform(0.5, 2.0, 4)
    bn.weight.data = rng.uniform(0.5, 1.5, 4)
    bn.bias.data = rng.standard_normal(4) * 0.1
    return model


class SkipCat(nn.Module):
    """(N, 2, 6, 6) -> (N, 3): a = relu(conv1 x); b = relu(conv2 a) + a (a skip); cat([a, b]) -> pool -> linear."""

    def __init__(self, seed=1):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.conv1 = nn.Conv2d(2, 3, 3, padding=1, rng=rng)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(3, 3, 3, padding=1, rng=rng)
        self.relu2 = nn.ReLU()
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(6 * 3 * 3, 3, rng=rng)

    def forward(self, x):
        a = self.relu1(self.conv1(x))
        b = self.relu2(self.conv2(a)) + a
        return self.fc(nn.flatten(self.pool(nn.cat([a, b], dim=1)), 1))


def graph(seed=1):
    return SkipCat(seed).double()


def keras(seed=2):
    """nn.Model from nn.Input: conv, tanh, a concatenation with the input, conv, ReLU, global average, linear."""
    rng = np.random.default_rng(seed)
    x = nn.Input((2, 6, 6), dtype=np.float64)
    h = nn.Tanh()(nn.Conv2d(2, 3, 3, padding=1, rng=rng)(x))
    h = nn.ReLU()(nn.Conv2d(5, 4, 3, padding=1, rng=rng)(nn.cat([h, x], dim=1)))
    y = nn.Linear(4, 3, rng=rng)(nn.flatten(nn.AdaptiveAvgPool2d(1)(h), 1))
    return nn.Model(inputs=x, outputs=y).double()


MODELS = {"sequential": sequential, "graph": graph, "keras": keras}


def numeric_gradient(f, x, eps=1e-6):
    """d f / dx by central differences (cnnumpy.gradcheck's), on a float64 copy of x."""
    return numerical_gradient(f, np.array(x, dtype=np.float64), eps)


def score(model, t):
    """f(x) = sum_n s_{t_n}(x_n), in eval mode: its gradient's image n is d s_{t_n}(x_n) / d x_n."""
    def f(x):
        training = [(m, m.training) for m in model.modules()]
        model.eval()
        s = model(x)
        for m, mode in training:
            m.training = mode
        return float(s[np.arange(len(t)), t].sum())
    return f


def tiny(seed=0):
    """A float64 conv net small enough for central differences: (N, 2, 6, 6) -> (N, 3)."""
    cnnumpy.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(27, 3)).double()


def sample_lenet():
    """LeNet-5 after one epoch of SGD on the embedded MNIST sample (about a second), in eval mode; its inputs are
    normalised with MNIST's mean and std."""
    from cnnumpy import models, optim, train
    from cnnumpy.data import mnist
    from cnnumpy.data.loader import DataLoader
    cnnumpy.manual_seed(0)
    model = models.lenet5()
    loader = DataLoader(mnist.MNIST.sample(train=True, transform=normalised()), batch_size=64, shuffle=True, seed=0)
    train.train_epoch(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.02, momentum=0.9), loader,
                      progress=False)
    return model.eval()


def normalised():
    """MNIST's transform: pixels to floats in [0, 1], then (x - mean) / std."""
    from cnnumpy.data import mnist, transforms
    return transforms.Compose([transforms.ToFloat(), transforms.Normalize(mnist.MNIST_MEAN, mnist.MNIST_STD)])
