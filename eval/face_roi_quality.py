"""PSNR-Y inside vs outside the detected faces, perceptual vs plain x264, at one bitrate.

    python eval/face_roi_quality.py --clip ../shared/data/video/talking/WDA_KatieHill_000.mp4
    python eval/face_roi_quality.py --clip CLIP --models none prior prior:0.7:fs=1 prior:0.7:fs=30

All encodes use identical x264 settings (2-pass ABR at --bitrate); faces are detected on every
source frame with the same CenterFace detector (at 640 px). --models takes ``perceptcodec rd``
configurations (``none``, ``model[:strength[:qp]][:k=N][:fs=N][:w=N]``), so the cost of a face
stride (``fs``) or saliency stride (``k``) shows where faces move. Writes JSON under
eval/results/.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from perceptcodec.evaluation import RdConfig, RdSettings, coded_luma
from perceptcodec.evaluation.scoring import LUMA
from perceptcodec.io.source import decode_video
from perceptcodec.pipeline import encode
from perceptcodec.saliency.faces import FaceDetector
from perceptcodec.units import parse_bitrate
from perceptcodec.versions import tool_versions

HERE = Path(__file__).resolve().parent


def face_masks(clip: Path, detector: FaceDetector) -> list[np.ndarray]:
    """Per-frame boolean H x W masks of the detected face boxes (source resolution)."""
    masks = []
    for frame in decode_video(clip):
        rgb = frame.to_ndarray(format="rgb24")
        mask = np.zeros(rgb.shape[:2], bool)
        for x0, y0, x1, y1, _score in detector(rgb):
            mask[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))] = True
        masks.append(mask)
    return masks


def region_psnr(clip: Path, encoded: Path, masks: list[np.ndarray]) -> dict[str, float]:
    """PSNR-Y (dB) from the summed squared error inside and outside the masks over all frames,
    on the coded Y plane (8-bit, no range conversion: :func:`coded_luma`)."""
    err = {"inside": [0.0, 0], "outside": [0.0, 0]}
    pairs = zip(decode_video(clip), decode_video(encoded), masks, strict=True)
    for ref, dec, mask in pairs:
        diff = coded_luma(ref).astype(np.float64) - coded_luma(dec)
        for name, region in (("inside", mask), ("outside", ~mask)):
            err[name][0] += float((diff[region] ** 2).sum())
            err[name][1] += int(region.sum())
    return {f"psnr_y_{k}_db": 10 * np.log10(255**2 / (s / max(n, 1))) for k, (s, n) in err.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, required=True)
    parser.add_argument("--bitrate", default="300k")
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--models", nargs="+", default=["none", "prior"])
    parser.add_argument("--out", type=Path, default=HERE / "results" / "face_roi_quality.json")
    args = parser.parse_args()
    if not args.clip.exists():
        sys.exit(f"face_roi_quality: {args.clip} not found")
    masks = face_masks(args.clip, FaceDetector(input_width=640))
    share = float(np.mean([m.mean() for m in masks]))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.models:
            config = RdConfig.parse(spec)
            model = config.saliency.name if spec == config.saliency.name else config.label
            out = Path(tmp) / f"{model}.mp4"
            kbps = parse_bitrate(args.bitrate)
            settings = RdSettings(preset=args.preset, two_pass=True)
            summary = encode(args.clip, out, config.encode_config(kbps, settings), progress=False)
            row = {
                "model": model,
                "video_kbps": summary.video_kbps,
                **region_psnr(args.clip, out, masks),
            }
            rows.append(row)
            print(
                f"{model:22s} {row['video_kbps']:6.1f} kbit/s  PSNR-Y faces "
                f"{row['psnr_y_inside_db']:.2f} dB, elsewhere {row['psnr_y_outside_db']:.2f} dB"
            )
    result = {
        "clip": args.clip.name,
        "bitrate": args.bitrate,
        "preset": args.preset,
        "two_pass": True,
        "luma": LUMA,
        "face_area_share": share,
        "rows": rows,
        "command": " ".join(["python", "eval/face_roi_quality.py", *sys.argv[1:]]),
        "versions": tool_versions(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
