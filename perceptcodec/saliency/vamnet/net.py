"""VAM-Net (PyTorch): visual (RGB + motion, ConvLSTM), audio (SoundNet-8 layers) and face
branches joined by the spatio-temporal multi-modal graph (STMG), after the paper's sections
5.1-5.5. Deviations (also in perceptcodec/models/vamnet/MODEL_CARD.md): MobileNetV2
(ImageNet) replaces VGG-16 by default (``backbone="vgg16"`` for users who hold its weights);
SoundNet conv1-conv5 only; face crops 48 x 48; output 1/8 of the input resolution.

Shapes: frames (B, T, 3, H, W) float in [0, 1]; motion partner frames the same; audio
(B, T, S) raw mono at ``spec.AUDIO_RATE`` (22,050 Hz) or None; face boxes (B, T, K, 4) in
[0, 1] frame coordinates with a validity mask (B, T, K); face crops (B, T, K, 3, FACE_CROP,
FACE_CROP); face cues (B, T, K, config.face_cues) (:mod:`perceptcodec.saliency.face_cues`:
speaking probability, size, distance from the centre) when the config has them. Sizes and the
configuration live in :mod:`perceptcodec.saliency.vamnet.spec`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from perceptcodec.saliency.vamnet.spec import VamNetConfig

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _conv_bn(inp: int, out: int, k: int, stride: int, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inp, out, k, stride, (k - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    """MobileNetV2 block with torchvision's parameter names (``conv.N...``)."""

    def __init__(self, inp: int, out: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = inp * expand
        self.use_res = stride == 1 and inp == out
        layers: list[nn.Module] = [_conv_bn(inp, hidden, 1, 1)] if expand != 1 else []
        layers += [
            _conv_bn(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, out, 1, 1, 0, bias=False),
            nn.BatchNorm2d(out),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(x) if self.use_res else self.conv(x)


def mobilenet_v2_features(blocks: int = 14) -> nn.Sequential:
    """The first ``blocks`` modules of torchvision's ``mobilenet_v2().features`` (14: up to the
    96-channel stage, stride 16), so an ImageNet state dict loads by name."""
    cfg = [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ]
    layers: list[nn.Module] = [_conv_bn(3, 32, 3, 2)]
    inp = 32
    for t, c, n, s in cfg:
        for i in range(n):
            layers.append(InvertedResidual(inp, c, s if i == 0 else 1, t))
            inp = c
    layers.append(_conv_bn(inp, 1280, 1, 1))
    return nn.Sequential(*layers[:blocks])


def vgg16_features() -> nn.Sequential:
    """torchvision's ``vgg16().features`` up to conv5_3 + ReLU (stride 16, 512 channels), same
    module indices, so a VGG-16 state dict a user holds loads by name (the paper's backbone;
    its weights cannot be obtained offline here)."""
    layers: list[nn.Module] = []
    inp = 3
    for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512):
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(inp, int(v), 3, padding=1), nn.ReLU(inplace=True)]
            inp = int(v)
    return nn.Sequential(*layers)


# backbone -> (builder, index where the stride-8 part ends, its channels, stride-16 channels)
BACKBONES = {
    "mobilenet_v2": (lambda: mobilenet_v2_features(14), 7, 32, 96),
    "vgg16": (vgg16_features, 23, 512, 512),
}


class ConvLSTMCell(nn.Module):
    """Convolutional LSTM: x (B, inp, h, w), state (h, c) each (B, hidden, h, w) or None."""

    def __init__(self, inp: int, hidden: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.gates = nn.Conv2d(inp + hidden, 4 * hidden, 3, padding=1)

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None) -> tuple[Tensor, Tensor]:
        if state is None:
            zeros = x.new_zeros(x.shape[0], self.hidden, *x.shape[2:])
            state = (zeros, zeros)
        h, c = state
        i, f, o, g = self.gates(torch.cat([x, h], 1)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class SoundNet8(nn.Module):
    """SoundNet-8 conv1-conv5 (1-D, raw 22,050 Hz audio), then global pooling and the paper's
    two-layer transformation block to the graph's node size."""

    SPEC = [
        (1, 16, 64, 2, 32, 8),
        (16, 32, 32, 2, 16, 8),
        (32, 64, 16, 2, 8, 0),
        (64, 128, 8, 2, 4, 0),
        (128, 256, 4, 2, 2, 0),
    ]  # fmt: skip (in, out, k, s, pad, pool)

    def __init__(self, node_dim: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for inp, out, k, s, pad, pool in self.SPEC:
            layers += [nn.Conv1d(inp, out, k, s, pad), nn.BatchNorm1d(out), nn.ReLU(inplace=True)]
            if pool:
                layers.append(nn.MaxPool1d(pool, pool))
        self.features = nn.Sequential(*layers)
        self.transform = nn.Sequential(
            nn.Linear(512, 256), nn.ReLU(inplace=True), nn.Linear(256, node_dim)
        )

    def forward(self, wave: Tensor) -> Tensor:
        """wave: (N, S) -> (N, node_dim)."""
        f = self.features(wave[:, None] * 256.0)  # SoundNet expects samples scaled to +-256
        return self.transform(torch.cat([f.mean(-1), f.amax(-1)], 1))


class FaceNet(nn.Module):
    """C3D-style 3-D conv net over face crop sequences, shared by all faces; keeps time."""

    def __init__(self, node_dim: int) -> None:
        super().__init__()
        chans = [3, 32, 64, 128]
        layers: list[nn.Module] = []
        for inp, out in zip(chans[:-1], chans[1:], strict=True):
            layers += [
                nn.Conv3d(inp, out, 3, padding=1),
                nn.BatchNorm3d(out),
                nn.ReLU(inplace=True),
                nn.MaxPool3d((1, 2, 2)),
            ]
        self.net = nn.Sequential(*layers)
        self.out = nn.Linear(128, node_dim)

    def forward(self, crops: Tensor) -> Tensor:
        """crops: (N, T, 3, h, w) -> (N, T, node_dim)."""
        f = self.net(crops.transpose(1, 2))  # (N, 128, T, h', w')
        return self.out(f.mean((3, 4)).transpose(1, 2))


class GATLayer(nn.Module):
    """Multi-head graph attention over a dense node set with an adjacency mask; residual."""

    def __init__(self, dim: int, heads: int, average: bool) -> None:
        super().__init__()
        self.heads, self.average = heads, average
        self.head_dim = dim if average else dim // heads
        self.proj = nn.Linear(dim, self.heads * self.head_dim, bias=False)
        self.att_src = nn.Parameter(torch.randn(heads, self.head_dim) * 0.1)
        self.att_dst = nn.Parameter(torch.randn(heads, self.head_dim) * 0.1)

    def forward(self, x: Tensor, adj: Tensor) -> Tensor:
        """x: (B, N, D); adj: (B, N, N) bool (row i attends to columns j; self-loops added)."""
        b, n, _ = x.shape
        h = self.proj(x).view(b, n, self.heads, self.head_dim)
        e = (h * self.att_dst).sum(-1)[:, :, None] + (h * self.att_src).sum(-1)[:, None]
        e = F.leaky_relu(e, 0.2)  # (B, N, N, heads)
        eye = torch.eye(n, device=x.device) > 0  # (float eye: ONNX Runtime has no bool EyeLike)
        mask = (adj | eye)[..., None]
        alpha = torch.softmax(e.masked_fill(~mask, float("-inf")), dim=2)
        out = torch.einsum("bijh,bjhd->bihd", alpha, h)
        out = out.mean(2) if self.average else out.reshape(b, n, -1)
        return x + F.elu(out)


class VamNet(nn.Module):
    """The full network. ``forward`` returns log-saliency (B, T, H/8, W/8) (log-softmax over
    pixels), speaking logits for faces (B, T, K) and background (B, T), and face attention
    weights (B, T, K) (softmax over the valid faces of a frame); ``state``: the two ConvLSTM
    layers' (h, c), each (B, lstm_hidden[i], H/8, W/8), to pass to the next call; ``nodes``
    (B, T, M, node_dim) and ``node_ok`` (B, T, M) bool: the graph's input nodes of these
    frames (K faces, the background, the audio), which a causal graph (``graph_window`` W >=
    1) takes back as ``past`` (the last W - 1 steps') on the next calls."""

    def __init__(self, config: VamNetConfig = VamNetConfig()) -> None:  # noqa: B008
        super().__init__()
        self.config = config
        d = config.node_dim
        build, self.split, c8, c16 = BACKBONES[config.backbone]
        self.rgb = build()
        self.rgb_fuse = nn.Conv2d(c8 + c16, 96, 1)
        self.motion = nn.Sequential(
            _conv_bn(6, 32, 3, 2), _conv_bn(32, 48, 3, 2), _conv_bn(48, 64, 3, 2)
        )
        self.fuse = nn.Sequential(nn.Conv2d(96 + 64, 128, 1), nn.ReLU(inplace=True))
        h1, h2 = config.lstm_hidden
        self.lstm1, self.lstm2 = ConvLSTMCell(128, h1), ConvLSTMCell(h1, h2)
        self.readout = nn.Sequential(
            nn.Conv2d(h2, 16, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(16, 1, 1)
        )
        self.sound_gain = nn.Parameter(torch.tensor(1.0))
        self.attention_gain = nn.Parameter(torch.tensor(1.0))
        self.audio = SoundNet8(d)
        self.face = FaceNet(d)
        self.background = nn.Linear(128, d)
        self.node_type = nn.Embedding(3, d)  # face, background, audio
        self.cue_proj: nn.Linear | None = None
        if config.face_cues:
            # node features: zero at first, so a fine-tune starts from the network it loads
            self.cue_proj = nn.Linear(config.face_cues, d)
            nn.init.zeros_(self.cue_proj.weight)
            nn.init.zeros_(self.cue_proj.bias)
            # and a direct path: the cue's speaking logit (cue 0) added to the speaking head's
            # with a learned gain starting at 1, so the graph need not relearn the cue, only
            # what it adds (a network memorising its few training composites otherwise
            # ignores a feature that starts at zero)
            self.cue_speaking_gain = nn.Parameter(torch.tensor(1.0))
            self.cue_attention_gain = nn.Parameter(torch.tensor(0.0))
        self.layers = nn.ModuleList(
            GATLayer(d, config.heads, average=(i == 3 * config.graph_layers - 1))
            for i in range(3 * config.graph_layers)
        )
        self.speak_head = nn.Linear(d, 1)
        self.attn_head = nn.Linear(d, 1)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def visual_features(self, frames: Tensor, partners: Tensor) -> Tensor:
        """(B*T, 3, H, W) frames and motion partners -> (B*T, 128, H/8, W/8)."""
        x = (frames - self.mean) / self.std
        f8 = self.rgb[: self.split](x)
        f16 = self.rgb[self.split :](f8)
        up = F.interpolate(f16, size=f8.shape[2:], mode="bilinear", align_corners=False)
        rgb = self.rgb_fuse(torch.cat([f8, up], 1))
        motion = self.motion(torch.cat([frames, partners - frames], 1))
        return self.fuse(torch.cat([rgb, motion], 1))

    def forward(
        self,
        frames: Tensor,
        partners: Tensor,
        audio: Tensor | None = None,
        boxes: Tensor | None = None,
        face_mask: Tensor | None = None,
        crops: Tensor | None = None,
        state: list | None = None,
        cues: Tensor | None = None,
        past: tuple[Tensor, Tensor] | None = None,
    ) -> dict[str, Tensor | list]:
        b, t = frames.shape[:2]
        feats = self.visual_features(frames.flatten(0, 1), partners.flatten(0, 1))
        gh, gw = feats.shape[2:]
        feats = feats.view(b, t, *feats.shape[1:])
        k = 0 if boxes is None or not self.config.use_faces else boxes.shape[2]
        graph = self._graph(feats, audio, crops, face_mask, cues, b, t, k, past)
        gauss = face_gaussians(boxes, (gh, gw)) if k else None  # (B, T, K, gh, gw)
        st1, st2 = state or [None, None]
        logits = []
        for i in range(t):
            st1 = self.lstm1(feats[:, i], st1)
            st2 = self.lstm2(st1[0], st2)
            h = st2[0]
            if k:
                att_map = (graph["attention"][:, i, :, None, None] * gauss[:, i]).sum(1)
                h = h * (1 + self.attention_gain * att_map[:, None])
            logit = self.readout(h)[:, 0]
            if k:
                speak = torch.sigmoid(graph["speaking"][:, i]) * face_mask[:, i]
                sound_map = (speak[:, :, None, None] * gauss[:, i]).sum(1)
                logit = logit + self.sound_gain * sound_map
            logits.append(logit)
        logit = torch.stack(logits, 1)
        log_sal = torch.log_softmax(logit.flatten(2), -1).view_as(logit)
        return {"log_saliency": log_sal, **graph, "state": [st1, st2]}

    def _graph(
        self,
        feats: Tensor,
        audio: Tensor | None,
        crops: Tensor | None,
        face_mask: Tensor | None,
        cues: Tensor | None,
        b: int,
        t: int,
        k: int,
        past: tuple[Tensor, Tensor] | None = None,
    ) -> dict[str, Tensor]:
        """Nodes per frame: K faces, the background, the audio (if any; a causal graph keeps
        its slot, masked off, so that every step has the same M nodes); STMG layers over
        ``past`` nodes (B, P, M, d) and their mask (B, P, M), then these T frames."""
        d = self.config.node_dim
        causal = self.config.graph_window > 0
        bg = self.background(feats.mean((3, 4)))  # (B, T, d)
        parts = [bg[:, :, None] + self.node_type.weight[1]]
        valid = [torch.ones(b, t, 1, dtype=torch.bool, device=feats.device)]
        if k:
            if causal:  # one frame per crop, as deployed
                face = self.face(crops.reshape(b * t * k, 1, *crops.shape[3:])).view(b, t, k, d)
            else:
                per_face = crops.transpose(1, 2).reshape(b * k, t, *crops.shape[3:])
                face = self.face(per_face).view(b, k, t, d).transpose(1, 2)  # (B, T, K, d)
            if self.cue_proj is not None:
                if cues is None:
                    raise ValueError("this VAM-Net takes face cues (B, T, K, face_cues)")
                face = face + self.cue_proj(cues)
            parts.insert(0, face + self.node_type.weight[0])
            valid.insert(0, face_mask.bool())
        has_audio = audio is not None and self.config.use_audio
        if has_audio or causal:
            if has_audio:
                a = self.audio(audio.flatten(0, 1)).view(b, t, 1, d)
            else:
                a = bg.new_zeros(b, t, 1, d)
            parts.append(a + self.node_type.weight[2])
            fill = torch.ones if has_audio else torch.zeros
            valid.append(fill(b, t, 1, dtype=torch.bool, device=feats.device))
        nodes = torch.cat(parts, 2)  # (B, T, M, d)
        ok = torch.cat(valid, 2)  # (B, T, M)
        carried = {"nodes": nodes, "node_ok": ok}
        p = 0
        if past is not None:
            p = past[0].shape[1]
            nodes, ok = torch.cat([past[0], nodes], 1), torch.cat([past[1].bool(), ok], 1)
        m, frames = nodes.shape[2], p + t
        kind = torch.full((m,), 1, device=feats.device)
        kind[:k] = 0
        if m > k + 1:
            kind[-1] = 2
        frame = torch.arange(frames, device=feats.device).repeat_interleave(m)
        slot = torch.arange(m, device=feats.device).repeat(frames)
        kinds = kind.repeat(frames)
        same_frame = frame[:, None] == frame[None]
        visual = kinds != 2
        spatial = same_frame & visual[:, None] & visual[None]
        temporal = slot[:, None] == slot[None]
        if causal:  # row i hears its slot's nodes of the graph_window - 1 frames before
            back = frame[:, None] - frame[None]
            temporal = temporal & (back >= 0) & (back < self.config.graph_window)
        multimodal = same_frame & ((kinds[:, None] == 2) ^ (kinds[None] == 2))
        ok_flat = ok.flatten(1)
        pair_ok = ok_flat[:, :, None] & ok_flat[:, None]
        x = nodes.flatten(1, 2)
        masks = [spatial, temporal, multimodal]
        for i, layer in enumerate(self.layers):
            x = layer(x, masks[i % 3][None] & pair_ok)
        x = x.view(b, frames, m, d)[:, p:]
        speak = self.speak_head(x)[..., 0]
        out = {"speaking_bg": speak[:, :, k], **carried}
        if k:
            att = self.attn_head(x[:, :, :k])[..., 0]
            if self.cue_proj is not None:
                q = cues[..., 0].clamp(1e-3, 1 - 1e-3)
                cue_logit = torch.log(q) - torch.log1p(-q)
                speak = torch.cat(
                    [speak[:, :, :k] + self.cue_speaking_gain * cue_logit, speak[:, :, k:]], 2
                )
                att = att + self.cue_attention_gain * cue_logit
            att = att.masked_fill(~face_mask.bool(), float("-inf"))
            att = torch.softmax(att, -1)
            out["attention"] = torch.nan_to_num(att, nan=0.0)
            out["speaking"] = speak[:, :, :k]
        return out


def step_speaking(out: dict[str, Tensor | list], face_mask: Tensor) -> Tensor:
    """(B, K) speaking probabilities of a one-frame step's faces (0 for empty slots and for a
    network without face nodes), from ``VamNet.forward``'s output and the (B, K) face mask."""
    speaking = out.get("speaking")
    if not isinstance(speaking, Tensor):
        return torch.zeros(face_mask.shape, dtype=torch.float32, device=face_mask.device)
    return torch.sigmoid(speaking[:, 0].float()) * face_mask.float()


def face_gaussians(boxes: Tensor, grid: tuple[int, int]) -> Tensor:
    """(B, T, K, 4) boxes in [0, 1] (x0, y0, x1, y1) -> (B, T, K, gh, gw) Gaussians, peak 1,
    centred on each box, sigma half its size (eq. 9-10's per-face Gaussians)."""
    gh, gw = grid
    ys = (torch.arange(gh, device=boxes.device, dtype=boxes.dtype) + 0.5) / gh
    xs = (torch.arange(gw, device=boxes.device, dtype=boxes.dtype) + 0.5) / gw
    cx, cy = (boxes[..., 0] + boxes[..., 2]) / 2, (boxes[..., 1] + boxes[..., 3]) / 2
    sx = ((boxes[..., 2] - boxes[..., 0]) / 2).clamp(min=1e-3)
    sy = ((boxes[..., 3] - boxes[..., 1]) / 2).clamp(min=1e-3)
    gx = torch.exp(-((xs - cx[..., None]) ** 2) / (2 * sx[..., None] ** 2))
    gy = torch.exp(-((ys - cy[..., None]) ** 2) / (2 * sy[..., None] ** 2))
    return gy[..., :, None] * gx[..., None, :]
