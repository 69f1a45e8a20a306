"""Train DAVE:
``python -m perceptcodec.training.dave --config perceptcodec/models/dave/configs/cpu.toml``."""

import argparse

from perceptcodec.training.dave.trainer import train

parser = argparse.ArgumentParser(description="Train DAVE from its training cache.")
parser.add_argument("--config", required=True)
parser.add_argument("--steps", type=int, help="override [train] steps")
parser.add_argument("--cache", help="override [data] cache")
parser.add_argument("--run-dir", help="override [train] run_dir")
args = parser.parse_args()
print(f"run folder: {train(args.config, args.steps, args.run_dir, args.cache)}")
