"""U-Net (Ronneberger, Fischer and Brox 2015): an encoder that halves the image `depth` times, a decoder that
doubles it back, and skips that hand each encoder level's map to the decoder level of the same size.

    x (N, in_channels, H, W) -> logits (N, num_classes, H, W): one score per class for every pixel

Laid out as the common PyTorch U-Net (milesial/Pytorch-UNet), generalised to any depth and width, so that its
state_dict keys are that network's: `inc.double_conv.0.weight`, `down1.maxpool_conv.1.double_conv.0.weight`, ...,
`up1.up.weight`, `up1.conv.double_conv.0.weight`, ..., `outc.conv.weight`. With depth=4, width=64 it is that
network exactly, weights and all.

Every module here defines forward only: the skips (`nn.cat([skip, x], dim=1)`) make the network a graph, not a
chain, and its backward comes from the graph mechanism (see docs/segmentation.md).
"""
import numpy as np

from .. import nn
from ..functional.methods import CONV_TRANSPOSE


class DoubleConv(nn.Module):
    """(Conv3x3(padding=1, no bias) - BatchNorm - ReLU) x 2: (N, C_in, H, W) -> (N, C_out, H, W), sizes kept."""

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int | None = None,
                 method: str = "auto") -> None:
        super().__init__()
        mid = mid_channels or out_channels
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, mid, 3, padding=1, bias=False, method=method), nn.BatchNorm2d(mid), nn.ReLU(),
            nn.Conv2d(mid, out_channels, 3, padding=1, bias=False, method=method), nn.BatchNorm2d(out_channels),
            nn.ReLU())

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.double_conv(x)


class Down(nn.Module):
    """MaxPool(2) then DoubleConv: (N, C_in, H, W) -> (N, C_out, H // 2, W // 2)."""

    def __init__(self, in_channels: int, out_channels: int, method: str = "auto") -> None:
        super().__init__()
        self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(in_channels, out_channels, method=method))

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.maxpool_conv(x)


class Up(nn.Module):
    """Upsample x by 2, pad it to the skip's size, concatenate [skip, x] along channels, then DoubleConv:
    x (N, C_in - C_skip, h, w), skip (N, C_skip, H, W) with H in {2h, 2h + 1} -> (N, C_out, H, W).

    bilinear=False: a ConvTranspose2d(C_in, C_in // 2, 2, stride=2) upsamples (and halves the channels);
    bilinear=True: Upsample(scale_factor=2, mode="bilinear", align_corners=True), and the DoubleConv's middle
    has C_in // 2 channels. An odd skip (H = 2h + 1) gets the missing row and column of zeros as torch's
    F.pad(x, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2]) adds them: after, for a difference of one.
    """

    def __init__(self, in_channels: int, out_channels: int, bilinear: bool = False, method: str = "auto") -> None:
        super().__init__()
        if bilinear:
            self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
            self.conv = DoubleConv(in_channels, out_channels, in_channels // 2, method=method)
        else:
            up_method = method if method in CONV_TRANSPOSE else "auto"
            self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, 2, stride=2, method=up_method)
            self.conv = DoubleConv(in_channels, out_channels, method=method)

    def forward(self, x: np.ndarray, skip: np.ndarray) -> np.ndarray:
        x = self.up(x)
        dy, dx = skip.shape[2] - x.shape[2], skip.shape[3] - x.shape[3]
        if dy or dx:
            x = nn.ZeroPad2d((dx // 2, dx - dx // 2, dy // 2, dy - dy // 2))(x)
        return self.conv(nn.cat([skip, x], dim=1))


class OutConv(nn.Module):
    """Conv1x1: (N, C_in, H, W) -> (N, num_classes, H, W), the per-pixel classifier."""

    def __init__(self, in_channels: int, out_channels: int, method: str = "auto") -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, method=method)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.conv(x)


class UNet(nn.Module):
    """x (N, in_channels, H, W) -> logits (N, num_classes, H, W); any H, W >= 2**depth.

    Channels per level: width * 2**i for i = 0..depth (the deepest halved when bilinear, as milesial's
    `factor`). Encoder: inc = DoubleConv(in_channels, width), down1..down{depth} = Down(c_i, c_{i+1}).
    Decoder: up1..up{depth} = Up(c_{depth-i+1}, c_{depth-i}), each fed the encoder map of its size.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 2, depth: int = 4, width: int = 64,
                 bilinear: bool = False, method: str = "auto") -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("num_classes", num_classes), ("depth", depth),
                            ("width", width)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name}: expected an int >= 1, got {value!r}")
        if not isinstance(bilinear, (bool, np.bool_)):
            raise TypeError(f"bilinear: expected True or False, got {bilinear!r}")
        self.in_channels, self.num_classes, self.depth, self.width = in_channels, num_classes, depth, width
        self.bilinear = bool(bilinear)
        factor = 2 if bilinear else 1
        c = [width * 2 ** i for i in range(depth + 1)]
        self.inc = DoubleConv(in_channels, c[0], method=method)
        for i in range(1, depth + 1):
            setattr(self, f"down{i}", Down(c[i - 1], c[i] // (factor if i == depth else 1), method=method))
        for i in range(1, depth + 1):
            level = depth - i  # the encoder level this decoder step returns to
            out = c[level] // (factor if level > 0 else 1)
            setattr(self, f"up{i}", Up(c[level + 1], out, bilinear, method=method))
        self.outc = OutConv(c[0], num_classes, method=method)

    def forward(self, x: np.ndarray) -> np.ndarray:
        if len(x.shape) == 4:  # the first conv checks the rest
            self._check_size("x", x.shape)
        skips = [self.inc(x)]
        for i in range(1, self.depth + 1):
            skips.append(getattr(self, f"down{i}")(skips[-1]))
        x = skips.pop()
        for i in range(1, self.depth + 1):
            x = getattr(self, f"up{i}")(x, skips.pop())
        return self.outc(x)

    def _check_size(self, name: str, shape: tuple[int, ...]) -> None:
        if min(shape[2:]) < 2 ** self.depth:
            raise ValueError(f"{name}: expected H and W >= 2**depth = {2 ** self.depth} (each of the {self.depth} "
                             f"down steps halves them), got shape {tuple(shape)}")


def unet(in_channels: int = 1, num_classes: int = 2, depth: int = 4, width: int = 64, bilinear: bool = False,
         method: str = "auto") -> UNet:
    """A U-Net: x (N, in_channels, H, W) -> per-pixel logits (N, num_classes, H, W); see UNet.

    depth: the number of down (and up) steps; width: the channels of the first level, doubled at each step.
    method: the convolution method of every Conv2d (the ConvTranspose2d's too when it has that method).
    """
    return UNet(in_channels, num_classes, depth, width, bilinear, method)
