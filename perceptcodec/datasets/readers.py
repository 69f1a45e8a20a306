"""Readers for the gaze data sets (formats: ../shared/data/README.md) and our CSV format.

Images: OSIE and EyeCrowd (per-viewer fixations in ``eye/fixations.mat``; EyeCrowd face boxes in
``labels.mat``), MIT1003 (density maps only), FIGRIM (binary fixation maps). Videos: the raw SMI
export of DHF1K 0002, the DHF1K layout, MVVA (as released, or as this project first laid it
out), and a video with a CSV of ``frame,x,y,subject`` rows.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from perceptcodec.datasets.gaze import ImageGaze, MapVideoGaze, PointVideoGaze
from perceptcodec.errors import PerceptcodecError
from perceptcodec.io.source import probe
from perceptcodec.paths import shared_data_dir


def _need(path: Path) -> Path:
    if not path.exists():
        raise PerceptcodecError(f"{path}: missing")
    return path


def _loadmat(path: Path) -> dict:
    import scipy.io

    try:
        return scipy.io.loadmat(str(_need(path)), squeeze_me=True, struct_as_record=False)
    except (ValueError, TypeError, OSError) as exc:
        raise PerceptcodecError(f"{path}: not a readable MATLAB file ({exc})") from exc


def _image_size(path: Path) -> tuple[int, int]:
    import cv2

    image = cv2.imread(str(_need(path)))
    if image is None:
        raise PerceptcodecError(f"{path}: not an image")
    return image.shape[1], image.shape[0]


def read_fixations_mat(root: Path) -> list[ImageGaze]:
    """OSIE / EyeCrowd: ``root/eye/fixations.mat`` (1-based points per viewer) and
    ``root/stimuli/<img>``. Fixations: (x, y, order within the viewer's scanpath, viewer)."""
    mat = _loadmat(root / "eye" / "fixations.mat")
    if "fixations" not in mat:
        raise PerceptcodecError(f"{root / 'eye/fixations.mat'}: no 'fixations' variable")
    records = []
    for entry in np.atleast_1d(mat["fixations"]):
        rows = []
        for subject, s in enumerate(np.atleast_1d(entry.subjects)):
            x = np.atleast_1d(s.fix_x).astype(np.float64) - 1
            y = np.atleast_1d(s.fix_y).astype(np.float64) - 1
            rows.append(np.stack([x, y, np.arange(len(x)), np.full(len(x), subject)], axis=1))
        image = root / "stimuli" / str(entry.img)
        fix = np.concatenate(rows) if rows else np.zeros((0, 4))
        records.append(ImageGaze(Path(str(entry.img)).stem, image, _image_size(image), fix))
    return records


def read_eyecrowd_faces(root: Path) -> dict[str, np.ndarray]:
    """EyeCrowd ``labels.mat``: image stem -> K x 4 face boxes (x0, y0, x1, y1), 0-based."""
    labels = _loadmat(root / "labels.mat")["labels"]
    faces = {}
    for entry in np.atleast_1d(labels):
        boxes = (
            [
                [f.left - 1, f.top - 1, f.left - 1 + f.width, f.top - 1 + f.height]
                for f in np.atleast_1d(entry.faces)
            ]
            if int(entry.nFaces)
            else []
        )
        faces[Path(str(entry.img)).stem] = np.asarray(boxes, np.float64).reshape(-1, 4)
    return faces


def read_osie(root: Path | None = None) -> list[ImageGaze]:
    return read_fixations_mat(root or shared_data_dir() / "images" / "osie")


def read_eyecrowd(root: Path | None = None) -> list[ImageGaze]:
    root = root or shared_data_dir() / "images" / "eyecrowd"
    records = read_fixations_mat(root)
    faces = read_eyecrowd_faces(root)
    for r in records:
        r.faces = faces.get(r.name)
    return records


def read_mit1003(root: Path | None = None) -> list[ImageGaze]:
    """MIT1003 subset: stimuli + pooled density maps (no fixation points: NSS/AUC unavailable)."""
    root = root or shared_data_dir() / "images" / "mit1003_100"
    records = []
    for image in sorted(_need(root / "stimuli").glob("*.jpg")):
        density = _need(root / "maps" / image.name)
        records.append(ImageGaze(image.stem, image, _image_size(image), density_path=density))
    return records


def read_figrim(root: Path | None = None) -> list[ImageGaze]:
    """FIGRIM subset: stimuli + pooled binary fixation maps (``fixlocs/<stem>.mat``)."""
    root = root or shared_data_dir() / "images" / "figrim30"
    records = []
    for image in sorted(_need(root / "stimuli").glob("*.jpg")):
        fixlocs = _need(root / "fixlocs" / f"{image.stem}.mat")
        records.append(ImageGaze(image.stem, image, _image_size(image), fix_map_path=fixlocs))
    return records


IMAGE_SETS = {
    "osie": read_osie,
    "eyecrowd": read_eyecrowd,
    "mit1003": read_mit1003,
    "figrim": read_figrim,
}


def read_smi_export(
    path: Path,
    subject: int,
    video_size: tuple[int, int] = (640, 360),
    screen_width: int = 1440,
    y_offset: float = 45.0,
    fps: float = 30.0,
) -> np.ndarray:
    """One subject's raw SMI export (tab separated, 250 Hz) -> fixations N x 4 (x, y, frame,
    subject) in video pixels: ``Fixation`` samples only, averaged per video frame, samples
    outside the frame dropped. Mapping (data README): a = W / screen_width, x = a x_s,
    y = a (y_s - y_offset), frame = floor(fps (t - t0) / 1e6) with t0 the first sample."""
    a = video_size[0] / screen_width
    rows = []
    with open(_need(path), newline="") as f:
        reader = csv.reader(f, delimiter="\t")
        header = next(reader, None)
        need = ("Time", "L POR X [px]", "L POR Y [px]", "L Event Info")
        if header is None or any(h not in header for h in need):
            raise PerceptcodecError(f"{path}:1: SMI header lacks one of {', '.join(need)}")
        ti, xi, yi, ei = (header.index(h) for h in need)
        t0 = None
        for line, row in enumerate(reader, start=2):
            if len(row) <= max(ti, xi, yi, ei):
                raise PerceptcodecError(f"{path}:{line}: too few columns")
            try:
                t, xs, ys = float(row[ti]), float(row[xi]), float(row[yi])
            except ValueError as exc:
                raise PerceptcodecError(f"{path}:{line}: not a number ({exc})") from exc
            t0 = t if t0 is None else t0
            if row[ei] != "Fixation":
                continue
            x, y = a * xs, a * (ys - y_offset)
            if 0 <= x < video_size[0] and 0 <= y < video_size[1]:
                rows.append((x, y, int(fps * (t - t0) / 1e6)))
    if not rows:
        return np.zeros((0, 4))
    samples = np.asarray(rows, np.float64)
    frames, inverse = np.unique(samples[:, 2], return_inverse=True)
    counts = np.bincount(inverse)
    x = np.bincount(inverse, samples[:, 0]) / counts
    y = np.bincount(inverse, samples[:, 1]) / counts
    return np.stack([x, y, frames, np.full(len(frames), subject)], axis=1)


def read_dhf1k_0002(root: Path | None = None) -> PointVideoGaze:
    """The DHF1K video 002 with the raw gaze of its 17 viewers (``exportdata_train/Pxx``)."""
    root = root or shared_data_dir() / "video" / "dhf1k_0002"
    video = _need(root / "video" / "002.AVI")
    info = probe(video)
    exports = sorted(_need(root / "exportdata_train").glob("P*/P*_Trail002.txt"))
    if not exports:
        raise PerceptcodecError(f"{root / 'exportdata_train'}: no Pxx/Pxx_Trail002.txt files")
    fix = np.concatenate(
        [
            read_smi_export(p, i, (info.width, info.height), fps=float(info.fps))
            for i, p in enumerate(exports)
        ]
    )
    return PointVideoGaze("dhf1k_0002", video, (info.width, info.height), info.frames, fix)


def read_gaze_csv(video: Path, table: Path, sigma_px: float = 0.0) -> PointVideoGaze:
    """Our own format: any video + a CSV with header ``frame,x,y,subject`` (0-based frame
    index, pixels of the video with the origin at the top-left, any subject label)."""
    info = probe(video)
    rows, subjects = [], {}
    with open(_need(table), newline="") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader, [])]
        if header != ["frame", "x", "y", "subject"]:
            raise PerceptcodecError(f"{table}:1: header must be frame,x,y,subject")
        for line, row in enumerate(reader, start=2):
            if not row or not "".join(row).strip():
                continue
            if len(row) != 4:
                raise PerceptcodecError(f"{table}:{line}: expected 4 fields, got {len(row)}")
            try:
                frame, x, y = int(row[0]), float(row[1]), float(row[2])
            except ValueError as exc:
                raise PerceptcodecError(f"{table}:{line}: bad number ({exc})") from exc
            if frame < 0:
                raise PerceptcodecError(f"{table}:{line}: negative frame index")
            rows.append((x, y, frame, subjects.setdefault(row[3].strip(), len(subjects))))
    fix = np.asarray(rows, np.float64).reshape(-1, 4)
    size = (info.width, info.height)
    return PointVideoGaze(video.stem, video, size, info.frames, fix, sigma_px)


def read_dhf1k_layout(root: Path) -> list[MapVideoGaze]:
    """DHF1K as released: ``video/NNN.AVI`` and ``annotation/0NNN/maps/NNNN.png`` (density) +
    ``annotation/0NNN/fixation/NNNN.png`` (binary), frames numbered from 1."""
    videos = []
    for folder in sorted(_need(root / "annotation").iterdir()):
        if not folder.is_dir():
            continue
        number = int(folder.name)
        candidates = [root / "video" / f"{number:03d}.AVI", root / "video" / f"{number:03d}.avi"]
        video = next((c for c in candidates if c.exists()), None)
        if video is None:
            raise PerceptcodecError(f"{root / 'video'}: no video for annotation {folder.name}")
        maps = sorted((folder / "maps").glob("*.png"))
        if not maps:
            raise PerceptcodecError(f"{folder / 'maps'}: no maps")
        fixations = sorted((folder / "fixation").glob("*.png"))
        videos.append(MapVideoGaze(f"dhf1k_{number:04d}", video, maps, fixations))
    return videos


MVVA_VIDEOS = "mvva_video"  # the authors' names (MinglangQiao/MVVA-Database, demo.py)
MVVA_MAPS = "save_our_hmap"
MVVA_FACE_TRACKING = "face_tracking"  # ours: the authors' code leaves these two paths open
MVVA_FACE_TALKING = "face_talking"


def _numbered_maps(folder: Path, suffix: str, first: int) -> list[Path]:
    """Per-frame map files ``NNN<suffix>`` numbered from ``first`` without gaps, by number."""
    numbered = sorted((int(p.stem), p) for p in folder.glob(f"*{suffix}") if p.stem.isdigit())
    if not numbered:
        raise PerceptcodecError(f"{folder}: no per-frame maps (*{suffix})")
    for expected, (number, _path) in enumerate(numbered, start=first):
        if number != expected:
            raise PerceptcodecError(f"{folder}: map {expected:03d}{suffix} missing")
    return [path for _number, path in numbered]


def _mvva_faces(tracking: np.ndarray, faces: int) -> np.ndarray:
    """The database's face tracks (per frame, a list of boxes x1, y1, x2, y2, ... in pixels,
    list position = face ID - 1; ragged object arrays allowed) -> frames x K x 4 float, NaN
    where a face is absent (no entry, or an all-zero box)."""
    frames = len(tracking)
    out = np.full((frames, faces, 4), np.nan)
    for f in range(frames):
        boxes = [np.asarray(b, np.float64).ravel()[:4] for b in np.atleast_1d(tracking[f])]
        for k, box in enumerate(boxes[:faces]):
            if box.size == 4 and np.any(box != 0):
                out[f, k] = box
    return out


def read_mvva_release(root: Path) -> list[MapVideoGaze]:
    """MVVA as released, read the way its authors' code reads it (Liu, Qiao, Xu, Li, Hu, Borji,
    ECCV 2020; github.com/MinglangQiao/MVVA-Database, ``demo.py`` and ``demo_face_talking.py``):

    - ``<root>/mvva_video/<name>.mp4``: the videos (``<name>`` a number, e.g. ``005`` or ``82``);
    - ``<root>/save_our_hmap/video_NNN/NNN.jpg``: grey JPEG fixation heat maps, one per frame,
      NNN = ``%03d`` of the video number and of the 0-based frame index;
    - optional ``<root>/face_tracking/<name>.npy``: per frame, the face boxes (x1, y1, x2, y2,
      pixels; position in the list = face ID - 1);
    - optional ``<root>/face_talking/<name>.npy``: K x frames talking labels (1 = talking).

    The authors' code leaves the folders of the two annotation files open (``xx/``); the names
    here are their variables' (``face_tracking_path``, ``face_talking_path``). Faces and talking
    labels are returned as :class:`MapVideoGaze` holds them: frames x K x 4 (NaN where a face
    is absent) and frames x K. Frames without a map (the maps may stop before the video) get no
    EWPSNR weight."""
    videos = []
    for video in sorted(_need(root / MVVA_VIDEOS).glob("*.mp4")):
        if not video.stem.isdigit():
            raise PerceptcodecError(f"{video}: MVVA video names are numbers")
        maps = _numbered_maps(root / MVVA_MAPS / f"video_{int(video.stem):03d}", ".jpg", 0)
        talking_file = root / MVVA_FACE_TALKING / f"{video.stem}.npy"
        tracking_file = root / MVVA_FACE_TRACKING / f"{video.stem}.npy"
        talking = np.load(talking_file) if talking_file.exists() else None
        faces = None
        if tracking_file.exists():
            tracking = np.load(tracking_file, allow_pickle=True)
            k = len(talking) if talking is not None else max(map(len, tracking), default=0)
            faces = _mvva_faces(tracking, k)
        speaking = np.asarray(talking).T if talking is not None else None
        videos.append(MapVideoGaze(f"mvva_{video.stem}", video, maps, [], faces, speaking))
    return videos


def read_mvva_flat(root: Path) -> list[MapVideoGaze]:
    """MVVA re-arranged the way this project first laid it out (not the database's layout:
    :func:`read_mvva_release`): ``<root>/<id>/video.mp4``, ``<root>/<id>/maps/NNNN.npy`` (or
    .png; per-frame heat maps, frames from 1), optional ``faces.npy`` (frames x K x 4 boxes x0,
    y0, x1, y1 in pixels, NaN rows when absent) and ``speaking.npy`` (frames x K, 1 =
    speaking)."""
    videos = []
    for folder in sorted(p for p in _need(root).iterdir() if p.is_dir()):
        video = _need(folder / "video.mp4")
        maps = sorted((folder / "maps").glob("*.npy")) or sorted((folder / "maps").glob("*.png"))
        if not maps:
            raise PerceptcodecError(f"{folder / 'maps'}: no per-frame maps")
        faces = np.load(folder / "faces.npy") if (folder / "faces.npy").exists() else None
        speaking = np.load(folder / "speaking.npy") if (folder / "speaking.npy").exists() else None
        videos.append(MapVideoGaze(folder.name, video, maps, [], faces, speaking))
    return videos


def read_mvva(root: Path) -> list[MapVideoGaze]:
    """MVVA in either layout: as released (``mvva_video/`` + ``save_our_hmap/``:
    :func:`read_mvva_release`) or as this project first laid it out (``<id>/maps/``:
    :func:`read_mvva_flat`)."""
    if (root / MVVA_VIDEOS).is_dir():
        return read_mvva_release(root)
    return read_mvva_flat(root)


def gaze_videos(spec: str) -> list[PointVideoGaze | MapVideoGaze]:
    """Videos with gaze from a spec: ``dhf1k_0002`` (the shared clip), ``VIDEO:CSV`` (our
    format), or a folder in the DHF1K (``annotation/``) or an MVVA layout. A video without gaze is
    refused: RD evaluation never weights by predicted saliency."""
    if spec == "dhf1k_0002":
        return [read_dhf1k_0002()]
    if ":" in spec and not Path(spec).exists():
        video, table = spec.rsplit(":", 1)
        return [read_gaze_csv(Path(video), Path(table))]
    root = Path(spec)
    if (root / "annotation").is_dir():
        return read_dhf1k_layout(root)
    if (root / MVVA_VIDEOS).is_dir():
        return read_mvva_release(root)
    if root.is_dir() and any((p / "maps").is_dir() for p in root.iterdir() if p.is_dir()):
        return read_mvva_flat(root)
    raise PerceptcodecError(
        f"{spec}: no gaze data found (give dhf1k_0002, VIDEO:CSV, or a DHF1K/MVVA folder)"
    )
