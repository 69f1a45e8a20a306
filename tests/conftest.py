"""Shared fixtures: the real-data folder (skips when absent) and synthetic clips."""

from __future__ import annotations

from pathlib import Path

import pytest

from perceptcodec.paths import shared_data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (or $PERCEPTCODEC_DATA); skips the test when it is absent."""
    root = shared_data_dir()
    if not root.is_dir():
        pytest.skip(f"shared data not found at {root} (set PERCEPTCODEC_DATA)")
    return root
