"""DAVE (Tavakoli et al., "DAVE: A Deep Audio-Visual Embedding for Dynamic Saliency
Prediction") in PyTorch: two 3D-ResNet-18 encoders (video, audio), fusion, decoder.

Shapes for the paper's size (``DaveConfig()``: width 64, 256 x 320 frames):

- video (B, 3, 16, 256, 320) -> conv1 7x7x7 stride (1, 2, 2) -> max-pool 3 stride 2 ->
  stages 64, 128, 256, 512 (strides 1, 2, 2, 2) -> (B, 512, 1, 8, 10) -> mean over time ->
  (B, 512, 8, 10);
- audio (B, 16, 64, 64) log mel patches -> copied to 3 channels (B, 3, 16, 64, 64) -> the
  same 3D-ResNet-18 -> global average pool -> (B, 512) -> broadcast to (B, 512, 8, 10);
- fusion: concat (B, 1024, 8, 10) -> 1 x 1 conv -> 512; decoder: (bilinear x2, 3 x 3 conv,
  batch norm, ReLU) x 2 -> 1 x 1 conv -> (B, 1, 32, 40) -> log-softmax over the map.

About 71 M parameters (two 33 M encoders + 5 M decoder). Static images take the paper's
image route (``audio=None``): the video features skip the fusion convolution and go straight
to the first upsampling block, so the audio stream and the fusion are not used (nor updated).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from perceptcodec.saliency.dave.spec import DaveConfig


class BasicBlock3d(nn.Module):
    """Two 3 x 3 x 3 convolutions with batch norm and a residual; a 1 x 1 x 1 projection
    (shortcut type B) where the stride or the width changes."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm3d(cout)
        self.conv2 = nn.Conv3d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm3d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(
                nn.Conv3d(cin, cout, 1, stride, bias=False), nn.BatchNorm3d(cout)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.down is None else self.down(x)))


class ResNet3d18(nn.Module):
    """3D-ResNet-18 (Hara et al., CVPR 2018) without its classifier: (B, 3, T, H, W) ->
    (B, 8 * width, T / 16, H / 32, W / 32)."""

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        c = (width, 2 * width, 4 * width, 8 * width)
        self.conv1 = nn.Conv3d(3, c[0], 7, (1, 2, 2), 3, bias=False)
        self.bn1 = nn.BatchNorm3d(c[0])
        self.pool = nn.MaxPool3d(3, 2, 1)
        stages, cin = [], c[0]
        for i, cout in enumerate(c):
            stride = 1 if i == 0 else 2
            stages.append(
                nn.Sequential(BasicBlock3d(cin, cout, stride), BasicBlock3d(cout, cout, 1))
            )
            cin = cout
        self.layer1, self.layer2, self.layer3, self.layer4 = stages

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class UpBlock(nn.Module):
    """Bilinear x2, 3 x 3 conv, batch norm, ReLU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: Tensor) -> Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        return F.relu(self.bn(self.conv(x)))


class Dave(nn.Module):
    """DAVE: ``forward(video, audio)`` -> (B, H / 8, W / 8) log saliency (log-softmax over the
    map). video (B, 3, 16, H, W) normalised frames (:func:`~.spec.normalise_frames`); audio
    (B, 16, 64, 64) log mel patches, or None for the image route."""

    def __init__(self, config: DaveConfig | None = None) -> None:
        super().__init__()
        self.config = config or DaveConfig()
        cfg = self.config
        top, dec = cfg.channels[-1], cfg.decoder_channels
        self.video = ResNet3d18(cfg.width)
        self.audio = ResNet3d18(cfg.width) if cfg.audio else None
        # The fusion halves the concatenated features (1024 -> 512 in the paper's size).
        self.fuse = nn.Conv2d(2 * top, top, 1) if cfg.audio else None
        self.up1 = UpBlock(top, dec)
        self.up2 = UpBlock(dec, dec)
        self.out = nn.Conv2d(dec, 1, 1)

    def encode_audio(self, audio: Tensor) -> Tensor:
        """(B, 16, 64, 64) log mel patches -> (B, 8 * width) pooled audio features."""
        x = audio.unsqueeze(1).expand(-1, 3, -1, -1, -1)  # copied to 3 channels, as the paper
        return self.audio(x).mean(dim=(2, 3, 4))

    def forward(self, video: Tensor, audio: Tensor | None = None) -> Tensor:
        v = self.video(video).mean(dim=2)  # (B, C, H / 32, W / 32)
        if audio is not None and self.audio is not None:
            a = self.encode_audio(audio)[:, :, None, None].expand_as(v)
            x = F.relu(self.fuse(torch.cat([v, a], dim=1)))
        else:  # image route (or the video-only model)
            x = v
        s = self.out(self.up2(self.up1(x)))[:, 0]
        return F.log_softmax(s.flatten(1), dim=1).view_as(s)


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
