"""SkinSeg: a small U-Net for fine lines and scars, built for fast CPU inference (tract).

Design (why): most of the work runs at half resolution and below (stride-2 stem, encoder
16/32/64 channels, Add skips instead of Concat), which is ~15x cheaper than a full-resolution
U-Net. Fine lines are only 2-5 px wide, so a cheap full-resolution branch (conv3x3 3->8) is
added back just before the head. Only Conv, ConvTranspose, Relu and Add appear after export;
BatchNorm is folded into the convolutions by `fuse()`.

Input 1x3xHxW normalised RGB (H, W multiples of 16); output 1x3xHxW raw logits
[background, fine_line, scar].
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from common import CLASSES


class ConvBNReLU(nn.Module):
    """conv3x3 (stride s) + BatchNorm + ReLU; `fuse()` folds the BatchNorm into the conv."""

    def __init__(self, cin: int, cout: int, stride: int = 1, k: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, bias=False)
        self.bn: nn.Module = nn.BatchNorm2d(cout)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    def fuse(self) -> None:
        if isinstance(self.bn, nn.BatchNorm2d):
            self.conv = fuse_conv_bn_eval(self.conv.eval(), self.bn.eval())
            self.bn = nn.Identity()


class SkinSeg(nn.Module):
    def __init__(self, full: int = 8, c1: int = 16, c2: int = 32, c3: int = 64, c4: int = 64,
                 classes: int = 4):
        super().__init__()
        self.full = ConvBNReLU(3, full)  # full resolution, for thin lines
        self.stem = ConvBNReLU(3, c1, stride=2)  # 1/2
        self.enc1 = ConvBNReLU(c1, c1)
        self.down2 = nn.Sequential(ConvBNReLU(c1, c2, stride=2), ConvBNReLU(c2, c2))  # 1/4
        self.down3 = nn.Sequential(ConvBNReLU(c2, c3, stride=2), ConvBNReLU(c3, c3))  # 1/8
        self.down4 = nn.Sequential(ConvBNReLU(c3, c4, stride=2), ConvBNReLU(c4, c4))  # 1/16
        self.up3 = nn.ConvTranspose2d(c4, c3, 2, 2)
        self.dec3 = ConvBNReLU(c3, c2)
        self.up2 = nn.ConvTranspose2d(c2, c2, 2, 2)
        self.dec2 = ConvBNReLU(c2, c1)
        self.up1 = nn.ConvTranspose2d(c1, c1, 2, 2)
        self.dec1 = ConvBNReLU(c1, c1)
        self.up0 = nn.ConvTranspose2d(c1, full, 2, 2)  # back to full resolution
        self.act0 = nn.ReLU(inplace=True)
        self.dec0 = ConvBNReLU(full, full)
        self.head = nn.Conv2d(full, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f0 = self.full(x)
        s1 = self.enc1(self.stem(x))
        s2 = self.down2(s1)
        s3 = self.down3(s2)
        b = self.down4(s3)
        d3 = self.dec3(self.up3(b) + s3)
        d2 = self.dec2(self.up2(d3) + s2)
        d1 = self.dec1(self.up1(d2) + s1)
        d0 = self.dec0(self.act0(self.up0(d1) + f0))
        return self.head(d0)

    def fuse(self) -> "SkinSeg":
        """Fold every BatchNorm into its conv (eval mode only); returns self."""
        self.eval()
        for m in self.modules():
            if isinstance(m, ConvBNReLU):
                m.fuse()
        return self
