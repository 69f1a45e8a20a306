"""Train VAM-Net:
``python -m perceptcodec.training --config perceptcodec/models/vamnet/configs/cpu.toml``
(``--init INIT.pt`` for pretrained parts)."""

import argparse

from perceptcodec.training.trainer import train

parser = argparse.ArgumentParser(description="Train VAM-Net from the training cache.")
parser.add_argument("--config", required=True)
parser.add_argument("--init", help="ImageNet/SoundNet initial weights (pretrained.py output)")
parser.add_argument("--steps", type=int, help="override [train] steps")
parser.add_argument("--cache", help="override [data] cache")
args = parser.parse_args()
print(f"run folder: {train(args.config, args.init, args.steps, cache=args.cache)}")
