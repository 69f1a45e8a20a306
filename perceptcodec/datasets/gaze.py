"""Gaze records: fixations (x, y, t, subject) and density maps, per image or per video frame.

Coordinates are 0-based pixels of the stimulus. Density maps are Gaussians around fixations
(``sigma_px``), summing to 1; ``sigma_from_degrees`` converts one degree of visual angle to
pixels for a viewing geometry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from perceptcodec.errors import PerceptcodecError
from perceptcodec.metrics.quality import gaussian_fixation_map

# Without a known viewing geometry: sigma = 3.5 % of the stimulus width, about one degree of
# visual angle for stimuli spanning 25-35 degrees (typical of these eye-tracking set-ups).
DEFAULT_SIGMA_FRAC = 0.035


def sigma_from_degrees(
    degrees: float, distance_cm: float, screen_width_cm: float, screen_width_px: float
) -> float:
    """Pixels spanned by ``degrees`` of visual angle at the screen centre."""
    px_per_cm = screen_width_px / screen_width_cm
    return 2 * distance_cm * math.tan(math.radians(degrees) / 2) * px_per_cm


def _read_grey(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise PerceptcodecError(f"{path}: missing or not an image")
    return image


@dataclass
class ImageGaze:
    """One image with gaze. fixations: N x 4 float (x, y, order, subject) or None when only a
    density map exists (``density_path``); faces: K x 4 (x0, y0, x1, y1) or None."""

    name: str
    image: Path
    size: tuple[int, int]  # (width, height)
    fixations: np.ndarray | None = None
    density_path: Path | None = None
    fix_map_path: Path | None = None
    faces: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.size[1], self.size[0]

    def fix_map(self) -> np.ndarray:
        """Binary H x W map of fixated pixels."""
        if self.fix_map_path is not None:
            return _load_map(self.fix_map_path) > 0
        if self.fixations is None:
            raise PerceptcodecError(f"{self.name}: no fixation points (density map only)")
        return points_to_map(self.fixations[:, :2], self.shape)

    def density(self, sigma_px: float | None = None) -> np.ndarray:
        """H x W fixation density summing to 1."""
        if self.density_path is not None:
            d = _read_grey(self.density_path).astype(np.float32)
            return d / max(float(d.sum()), 1e-12)
        sigma = sigma_px or DEFAULT_SIGMA_FRAC * self.size[0]
        if self.fixations is not None:
            points = self.fixations[:, :2]
        else:
            points = np.argwhere(self.fix_map())[:, ::-1]
        return gaussian_fixation_map(points, self.shape, sigma)

    def subjects(self) -> np.ndarray:
        """Subject ids present (empty when fixations are pooled)."""
        return np.unique(self.fixations[:, 3]) if self.fixations is not None else np.zeros(0)


def points_to_map(points_xy: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Binary H x W map with the pixels under (x, y) points set."""
    out = np.zeros(shape, bool)
    xy = np.round(np.asarray(points_xy, np.float64).reshape(-1, 2)).astype(int)
    ok = (xy[:, 0] >= 0) & (xy[:, 0] < shape[1]) & (xy[:, 1] >= 0) & (xy[:, 1] < shape[0])
    out[xy[ok, 1], xy[ok, 0]] = True
    return out


def usable_fixations(
    name: str, fixations: np.ndarray, size: tuple[int, int], frames: int
) -> tuple[np.ndarray, dict[str, int]]:
    """The rows of ``fixations`` (N x 4: x, y, frame, subject) that can weigh a frame: finite,
    on a frame of the video (0 <= frame < ``frames``; not checked when ``frames`` is 0) and
    inside the picture (the pixel they round to), with the count dropped for each reason. The
    drops are reported as one warning; no usable row at all is an error, raised before any
    encode starts."""
    from perceptcodec.io.source import warn

    fix = np.asarray(fixations, np.float64).reshape(-1, 4)
    width, height = size
    total = len(fix)
    reasons: dict[str, int] = {}
    finite = np.isfinite(fix[:, :3]).all(axis=1)
    reasons["not finite (NaN/inf)"] = int((~finite).sum())
    fix = fix[finite]
    frame_ok = (fix[:, 2] >= 0) & (fix[:, 2] == np.floor(fix[:, 2]))
    if frames > 0:
        frame_ok &= fix[:, 2] < frames
    reasons[f"not on a frame of the video (0..{max(frames - 1, 0)})"] = int((~frame_ok).sum())
    fix = fix[frame_ok]
    xi, yi = np.round(fix[:, 0]), np.round(fix[:, 1])
    inside = (xi >= 0) & (xi < width) & (yi >= 0) & (yi < height)
    reasons[f"outside the {width}x{height} picture"] = int((~inside).sum())
    fix = fix[inside]
    dropped = {reason: n for reason, n in reasons.items() if n}
    detail = ", ".join(f"{n} {reason}" for reason, n in dropped.items())
    if len(fix) == 0:
        raise PerceptcodecError(
            f"{name}: no usable gaze ({total} fixation rows" + (f": {detail})" if detail else ")")
        )
    if dropped:
        warn(f"{name}: {total - len(fix)} of {total} fixation rows dropped ({detail})")
    return fix, dropped


@dataclass
class PointVideoGaze:
    """A video with gaze as fixation points: N x 4 float (x, y, frame, subject), frame 0-based.

    ``weights(i)`` (the RD evaluation's per-frame EWPSNR weights) is ``density(i)``: None for a
    frame without any fixation."""

    name: str
    video: Path
    size: tuple[int, int]  # (width, height)
    frames: int
    fixations: np.ndarray = field(repr=False)
    sigma_px: float = 0.0

    dropped: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.sigma_px:
            self.sigma_px = DEFAULT_SIGMA_FRAC * self.size[0]
        self.fixations, self.dropped = usable_fixations(
            self.name, self.fixations, self.size, self.frames
        )
        order = np.argsort(self.fixations[:, 2], kind="stable")
        self.fixations = self.fixations[order]
        self._starts = np.searchsorted(self.fixations[:, 2], np.arange(self.frames + 1))

    @property
    def shape(self) -> tuple[int, int]:
        return self.size[1], self.size[0]

    def points(self, frame: int) -> np.ndarray:
        """K x 4 fixations of one frame."""
        if not 0 <= frame < self.frames:
            return np.zeros((0, 4))
        return self.fixations[self._starts[frame] : self._starts[frame + 1]]

    def fix_map(self, frame: int) -> np.ndarray:
        return points_to_map(self.points(frame)[:, :2], self.shape)

    def density(self, frame: int) -> np.ndarray | None:
        pts = self.points(frame)
        if len(pts) == 0:
            return None
        return gaussian_fixation_map(pts[:, :2], self.shape, self.sigma_px)

    def weights(self, frame: int) -> np.ndarray | None:
        return self.density(frame)

    def subjects(self) -> np.ndarray:
        return np.unique(self.fixations[:, 3])


@dataclass
class MapVideoGaze:
    """A video with per-frame ground-truth maps on disk (DHF1K / MVVA layouts): ``maps[i]`` is
    the density image of frame i, ``fixation_maps[i]`` its binary fixation image (optional);
    faces: frames x K x 4 boxes (x0, y0, x1, y1, pixels; NaN where face k is absent), speaking:
    frames x K (1 = face k talks), both optional."""

    name: str
    video: Path
    maps: list[Path] = field(repr=False)
    fixation_maps: list[Path] = field(default_factory=list, repr=False)
    faces: np.ndarray | None = field(default=None, repr=False)
    speaking: np.ndarray | None = field(default=None, repr=False)

    @property
    def frames(self) -> int:
        return len(self.maps)

    def density(self, frame: int) -> np.ndarray | None:
        if not 0 <= frame < len(self.maps):
            return None
        d = _load_map(self.maps[frame]).astype(np.float32)
        total = float(d.sum())
        return d / total if total > 0 else None

    def fix_map(self, frame: int) -> np.ndarray:
        if not self.fixation_maps:
            raise PerceptcodecError(f"{self.name}: no binary fixation maps in this dataset")
        return _load_map(self.fixation_maps[frame]) > 0

    def weights(self, frame: int) -> np.ndarray | None:
        return self.density(frame)


def _load_map(path: Path) -> np.ndarray:
    """A map from .npy, .mat (FIGRIM ``fixLocs``) or any image file, as a 2-D array."""
    if path.suffix == ".mat":
        import scipy.io

        return scipy.io.loadmat(str(path))["fixLocs"]
    if path.suffix == ".npy":
        try:
            return np.load(path)
        except (OSError, ValueError) as exc:
            raise PerceptcodecError(f"{path}: unreadable map ({exc})") from exc
    return _read_grey(path)
