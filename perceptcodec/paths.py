"""Where shipped models live (inside the package) and where shared data lives (never
shipped)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path:
    """The gaze/video data folder: ``$PERCEPTCODEC_DATA`` or ``../shared/data`` beside the repo."""
    env = os.environ.get("PERCEPTCODEC_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def models_dir() -> Path:
    """Shipped weights and model cards: ``perceptcodec/models/`` (package data, so a wheel
    carries them), or ``$PERCEPTCODEC_MODELS``."""
    env = os.environ.get("PERCEPTCODEC_MODELS")
    return Path(env) if env else Path(str(resources.files("perceptcodec") / "models"))
