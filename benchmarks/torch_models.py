"""torch twins of cnnumpy.models whose forward is a graph (cnnumpy.bench.to_torch converts only chains).

Each builder takes a cnnumpy model and returns the same network in torch.nn with a copy of its weights (the
keys are equal by construction; tests/models/ checks it for every model).
"""


def mobilenet_v2(model):
    """torchvision's MobileNetV2, built from the shapes of the cnnumpy `model` (any width and stem)."""
    import torch
    T = torch.nn

    def cbr(conv):
        return T.Sequential(T.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                                     groups=conv.groups, bias=False), T.BatchNorm2d(conv.out_channels), T.ReLU6(True))

    class InvertedResidual(T.Module):
        def __init__(self, block):
            super().__init__()
            self.use_res_connect = block.use_res_connect
            layers = [cbr(m[0]) for m in list(block.conv)[:-2]]
            last = block.conv[len(block.conv) - 2]
            self.conv = T.Sequential(*layers, T.Conv2d(last.in_channels, last.out_channels, 1, bias=False),
                                     T.BatchNorm2d(last.out_channels))

        def forward(self, x):
            return x + self.conv(x) if self.use_res_connect else self.conv(x)

    class MobileNetV2(T.Module):
        def __init__(self):
            super().__init__()
            f = list(model.features)
            self.features = T.Sequential(cbr(f[0][0]), *[InvertedResidual(b) for b in f[1:-1]], cbr(f[-1][0]))
            self.avgpool = T.AdaptiveAvgPool2d(1)
            linear = model.classifier[1]
            self.classifier = T.Sequential(T.Dropout(model.classifier[0].p),
                                           T.Linear(linear.in_features, linear.out_features))

        def forward(self, x):
            return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))

    net = MobileNetV2()
    net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.state_dict().items()})
    return net


TWINS = {"mobilenet_v2": mobilenet_v2}
