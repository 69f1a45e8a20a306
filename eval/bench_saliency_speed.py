"""Saliency-only throughput of VAM-Net at model resolution (128 x 128), batched.

    python eval/bench_saliency_speed.py --device cuda --batch 64 --clip 8

Runs the full network (visual streams, ConvLSTM over --clip frames, 2 faces per frame with
crops, audio node) on --batch independent streams at once; frames/s = batch x clip / time.
On CUDA it also runs fp16 autocast. Reports whether TensorRT is importable (this benchmark
does not build engines). Prints JSON; needs torch and numpy only.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from perceptcodec.saliency.vamnet.net import VamNet, VamNetConfig
from perceptcodec.saliency.vamnet.spec import AUDIO_SAMPLES


def inputs(batch: int, clip: int, device: torch.device) -> dict:
    frames = torch.rand(batch, clip, 3, 128, 128, device=device)
    boxes = torch.tensor([[0.1, 0.2, 0.4, 0.6], [0.6, 0.2, 0.9, 0.6]], device=device)
    return {
        "frames": frames,
        "partners": frames.roll(1, 1),
        "audio": torch.randn(batch, clip, AUDIO_SAMPLES, device=device),
        "boxes": boxes.repeat(batch, clip, 1, 1),
        "face_mask": torch.ones(batch, clip, 2, dtype=torch.bool, device=device),
        "crops": torch.rand(batch, clip, 2, 3, 48, 48, device=device),
    }


def timed(net: VamNet, x: dict, device: torch.device, repeats: int, half: bool) -> float:
    def run() -> None:
        with torch.inference_mode(), torch.autocast(device.type, torch.float16, enabled=half):
            net(**x)

    for _ in range(2):
        run()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(repeats):
        run()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--clip", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--weights", default="perceptcodec/models/vamnet/vamnet.pt")
    args = parser.parse_args()
    device = torch.device(args.device)
    ck = torch.load(args.weights, map_location="cpu", weights_only=False)
    net = VamNet(VamNetConfig(**ck["config"]))
    net.load_state_dict(
        {k: v.float() if v.is_floating_point() else v for k, v in ck["state_dict"].items()}
    )
    net.eval().to(device)
    x = inputs(args.batch, args.clip, device)
    frames = args.batch * args.clip
    name = f"{platform.machine()} CPU, {torch.get_num_threads()} threads"
    if device.type == "cuda":
        name = torch.cuda.get_device_name(0)
    result = {"device": name, "torch": torch.__version__, "batch": args.batch, "clip": args.clip}
    result["fp32_frames_per_s"] = frames / timed(net, x, device, args.repeats, half=False)
    if device.type == "cuda":
        result["fp16_frames_per_s"] = frames / timed(net, x, device, args.repeats, half=True)
    try:
        import tensorrt

        result["tensorrt"] = tensorrt.__version__
    except ImportError:
        result["tensorrt"] = "not installed"
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
