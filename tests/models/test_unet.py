"""The U-Net against the same network written in torch (milesial/Pytorch-UNet, any depth and width): the same
state_dict keys, weights loaded both ways, and in float64 the same logits, input gradient and every parameter's
gradient, in train and eval mode, on even and odd image sizes."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

from cnnumpy import models
from cnnumpy.models.unet import unet
from tests.parity import assert_matches_torch

T = torch.nn


class TorchDoubleConv(T.Module):
    def __init__(self, cin, cout, mid=None):
        super().__init__()
        mid = mid or cout
        self.double_conv = T.Sequential(
            T.Conv2d(cin, mid, 3, padding=1, bias=False), T.BatchNorm2d(mid), T.ReLU(inplace=True),
            T.Conv2d(mid, cout, 3, padding=1, bias=False), T.BatchNorm2d(cout), T.ReLU(inplace=True))

    def forward(self, x):
        return self.double_conv(x)


class TorchDown(T.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.maxpool_conv = T.Sequential(T.MaxPool2d(2), TorchDoubleConv(cin, cout))

    def forward(self, x):
        return self.maxpool_conv(x)


class TorchUp(T.Module):
    def __init__(self, cin, cout, bilinear):
        super().__init__()
        if bilinear:
            self.up = T.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
            self.conv = TorchDoubleConv(cin, cout, cin // 2)
        else:
            self.up = T.ConvTranspose2d(cin, cin // 2, kernel_size=2, stride=2)
            self.conv = TorchDoubleConv(cin, cout)

    def forward(self, x1, x2):
        x1 = self.up(x1)
        dy, dx = x2.size()[2] - x1.size()[2], x2.size()[3] - x1.size()[3]
        x1 = TF.pad(x1, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return self.conv(torch.cat([x2, x1], dim=1))


class TorchOutConv(T.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = T.Conv2d(cin, cout, kernel_size=1)

    def forward(self, x):
        return self.conv(x)


class TorchUNet(T.Module):
    """milesial's UNet with down1..down4 / up1..up4 made a loop over `depth`."""

    def __init__(self, n_channels, n_classes, depth, width, bilinear=False):
        super().__init__()
        self.depth = depth
        factor = 2 if bilinear else 1
        c = [width * 2 ** i for i in range(depth + 1)]
        self.inc = TorchDoubleConv(n_channels, c[0])
        for i in range(1, depth + 1):
            setattr(self, f"down{i}", TorchDown(c[i - 1], c[i] // (factor if i == depth else 1)))
        for i in range(1, depth + 1):
            level = depth - i
            setattr(self, f"up{i}", TorchUp(c[level + 1], c[level] // (factor if level else 1), bilinear))
        self.outc = TorchOutConv(c[0], n_classes)

    def forward(self, x):
        skips = [self.inc(x)]
        for i in range(1, self.depth + 1):
            skips.append(getattr(self, f"down{i}")(skips[-1]))
        x = skips.pop()
        for i in range(1, self.depth + 1):
            x = getattr(self, f"up{i}")(x, skips.pop())
        return self.outc(x)




def test_the_default_is_milesials_unet():
    """depth 4, width 64: the keys and shapes of milesial's UNet(n_channels=1, n_classes=2), all 31.0 M weights."""
    ours, theirs = unet(), TorchUNet(1, 2, 4, 64)
    assert {k: v.shape for k, v in ours.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert "up1.up.weight" in ours.state_dict() and "down4.maxpool_conv.1.double_conv.0.weight" in ours.state_dict()
    assert sum(p.data.size for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters()) == 31_036_546
    assert models.MODELS["unet"] is unet


@pytest.mark.parametrize("bilinear", [False, True])
@pytest.mark.parametrize("size", [(16, 16), (17, 19)])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_same_as_torch(bilinear, size, mode):
    ours = unet(in_channels=2, num_classes=3, depth=2, width=4, bilinear=bilinear).train(mode == "train")
    theirs = TorchUNet(2, 3, 2, 4, bilinear)
    rng = np.random.default_rng(sum(size) + bilinear)
    if mode == "eval":  # running statistics that are not the initial ones
        for name, b in ours.named_buffers():
            if name.endswith("running_mean"):
                b[...] = rng.standard_normal(b.shape) * 0.1
            elif name.endswith("running_var"):
                b[...] = rng.uniform(0.5, 1.5, b.shape)
    x = rng.standard_normal((2, 2) + size)
    label = f"bilinear={bilinear}, size={size}, {mode}"
    assert_matches_torch(ours, theirs, x, np.float64, tol=1e-10, label=label)


def test_weights_move_from_torch():
    """torch's weights (trained a step, so not the initial ones) loaded into ours give torch's logits."""
    torch.manual_seed(0)
    theirs = TorchUNet(1, 4, 2, 4).double()
    opt = torch.optim.SGD(theirs.parameters(), lr=0.1)
    x = torch.randn(2, 1, 16, 16, dtype=torch.float64)
    theirs(x).square().mean().backward()
    opt.step()
    theirs.eval()
    ours = unet(1, 4, depth=2, width=4).to(np.float64)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    y, yt = ours.eval()(x.numpy()), theirs(x).detach().numpy()
    assert np.abs(y - yt).max() / np.abs(yt).max() < 1e-10


def test_float32_in_float32_out_and_shapes():
    m = unet(1, 11, depth=3, width=4)
    x = np.random.default_rng(0).random((1, 1, 24, 20), dtype=np.float32)
    y = m(x)
    assert y.dtype == np.float32 and y.shape == (1, 11, 24, 20)
    assert m.compute_output_shape((5, 1, 24, 20)) == (5, 11, 24, 20)


@pytest.mark.parametrize("kwargs, message", [
    (dict(depth=0), "depth: expected an int >= 1, got 0"),
    (dict(width=2.5), "width: expected an int >= 1, got 2.5"),
    (dict(num_classes=True), "num_classes: expected an int >= 1, got True"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        unet(**kwargs)


def test_bad_input():
    m = unet(1, 2, depth=3, width=2)
    with pytest.raises(ValueError, match=r"x: expected H and W >= 2\*\*depth = 8 .* got shape \(1, 1, 7, 9\)"):
        m(np.zeros((1, 1, 7, 9), np.float32))
    with pytest.raises(ValueError, match=r"x: expected 1 channels"):
        m.compute_output_shape((1, 3, 16, 16))
