"""PSNR-Y inside and outside a centred ROI, with and without QP offsets, H.264 vs HEVC.

    python eval/hevc_roi.py --clip ../shared/data/video/talking/WDA_KatieHill_000.mp4

Both encoders (X264Encoder, X265Encoder) get the same frames, the same 2-pass ABR target and
preset, and the same per-16x16 offsets: a box over the face (``--box``, fractions of the frame)
as the saliency map, mapped by ``roi.qp_offsets`` (dQP = -3 log2(w / mean w), which holds for
both codecs: their SSE lambdas double every 3 QP). PSNR-Y comes from the summed squared error
over all frames, inside the 16x16 blocks fully inside the box and outside them, on the coded Y
plane (no range conversion). Writes eval/results/hevc_roi.json and .md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from perceptcodec import roi
from perceptcodec.encoder.frames import i420_planes
from perceptcodec.encoder.x264 import (
    Packet,
    Pass,
    RateControl,
    X264Encoder,
    X264Options,
    x264_build,
)
from perceptcodec.encoder.x265 import X265Encoder, x265_build
from perceptcodec.units import parse_bitrate

HERE = Path(__file__).resolve().parent
Planes = tuple[np.ndarray, np.ndarray, np.ndarray]
CODECS = {"h264": (X264Encoder, "h264"), "hevc": (X265Encoder, "hevc")}


def read_clip(path: Path, limit: int) -> tuple[list[Planes], Fraction]:
    """The clip's frames as contiguous I420 planes (as the encoders take them) and its fps."""
    frames: list[Planes] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = Fraction(stream.average_rate or 25)
        for frame in container.decode(stream):
            planes, _owner = i420_planes(frame)
            frames.append(tuple(np.array(p, np.uint8, copy=True) for p in planes))
            if len(frames) == limit:
                break
    return frames, fps


def box_map(
    box: tuple[float, float, float, float], width: int, height: int
) -> tuple[np.ndarray, np.ndarray]:
    """(saliency map, pixel mask of the 16x16 blocks fully inside the box)."""
    x0, y0, x1, y1 = box
    sal = np.zeros((height, width), np.float32)
    sal[int(y0 * height) : int(y1 * height), int(x0 * width) : int(x1 * width)] = 1.0
    mask = np.zeros((height, width), bool)
    mx0, my0 = int(np.ceil(x0 * width / 16)) * 16, int(np.ceil(y0 * height / 16)) * 16
    mx1, my1 = int(x1 * width) // 16 * 16, int(y1 * height) // 16 * 16
    mask[my0:my1, mx0:mx1] = True
    return sal, mask


def encode(
    codec: str,
    frames: list[Planes],
    fps: Fraction,
    kbps: int,
    preset: str,
    dqp: np.ndarray | None,
    tmp: Path,
) -> tuple[bytes, list[Packet], float]:
    """2-pass ABR encode: (headers, packets, seconds)."""
    cls = CODECS[codec][0]
    height, width = frames[0][0].shape
    rate = RateControl(bitrate_kbps=kbps, two_pass=True)
    start = time.perf_counter()
    for pass_ in (Pass.FIRST, Pass.SECOND):
        enc = cls(
            width,
            height,
            fps,
            1 / fps,
            rate,
            X264Options(preset=preset),
            pass_=pass_,
            stats_path=str(tmp / f"{codec}.stats"),
        )
        headers = enc.headers()
        packets = [p for i, f in enumerate(frames) if (p := enc.encode(*f, i, dqp))]
        packets += list(enc.flush())
        enc.close()
    return headers, packets, time.perf_counter() - start


def decode_y(codec: str, headers: bytes, packets: list[Packet]) -> list[np.ndarray]:
    """Decoded Y planes in display order."""
    ctx = av.CodecContext.create(CODECS[codec][1], "r")
    stream = headers + b"".join(p.data for p in sorted(packets, key=lambda p: p.dts))
    out = []
    for packet in ctx.parse(stream) + ctx.parse(None):
        out += ctx.decode(packet)
    out += ctx.decode(None)
    return [np.array(i420_planes(f)[0][0], copy=True) for f in out]


def region_psnr(ref: list[Planes], dec: list[np.ndarray], mask: np.ndarray) -> dict[str, float]:
    """PSNR-Y (dB) of the summed squared error inside/outside ``mask`` over all frames."""
    if len(ref) != len(dec):
        raise SystemExit(f"hevc_roi: decoded {len(dec)} frames, expected {len(ref)}")
    sums = {"inside": 0.0, "outside": 0.0}
    for (y, _u, _v), d in zip(ref, dec, strict=True):
        diff = y.astype(np.float64) - d
        sums["inside"] += float((diff[mask] ** 2).sum())
        sums["outside"] += float((diff[~mask] ** 2).sum())
    counts = {"inside": mask.sum() * len(ref), "outside": (~mask).sum() * len(ref)}
    return {f"psnr_y_{k}_db": round(10 * np.log10(255**2 * counts[k] / sums[k]), 3) for k in sums}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, required=True)
    parser.add_argument("--bitrate", default="200k")
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--box", type=float, nargs=4, default=(0.25, 0.25, 0.75, 0.8))
    parser.add_argument("--strength", type=float, default=roi.RoiSettings.strength)
    parser.add_argument("--max-delta-qp", type=float, default=roi.RoiSettings.max_delta_qp)
    parser.add_argument("--frames", type=int, default=0, help="first N frames (0 = all)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "hevc_roi.json")
    args = parser.parse_args()
    if not args.clip.exists():
        sys.exit(f"hevc_roi: {args.clip} not found")
    frames, fps = read_clip(args.clip, args.frames)
    height, width = frames[0][0].shape
    sal, mask = box_map(tuple(args.box), width, height)
    dqp = roi.qp_offsets(sal, (width, height), args.strength, args.max_delta_qp)
    kbps = parse_bitrate(args.bitrate)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for codec in CODECS:
            for offsets in ("none", "roi"):
                headers, packets, seconds = encode(
                    codec,
                    frames,
                    fps,
                    kbps,
                    args.preset,
                    dqp if offsets == "roi" else None,
                    Path(tmp),
                )
                bits = 8 * sum(len(p.data) for p in packets)
                row = {
                    "codec": codec,
                    "offsets": offsets,
                    "video_kbps": round(bits / (len(frames) / float(fps)) / 1000, 2),
                    **region_psnr(frames, decode_y(codec, headers, packets), mask),
                    "encode_s": round(seconds, 1),
                }
                rows.append(row)
                print(
                    f"{codec:5s} {offsets:5s} {row['video_kbps']:7.1f} kbit/s  PSNR-Y ROI "
                    f"{row['psnr_y_inside_db']:.2f} dB, outside {row['psnr_y_outside_db']:.2f} dB"
                    f"  ({seconds:.0f} s)",
                    flush=True,
                )
    gains = {}
    for codec in CODECS:
        base, with_roi = (
            next(r for r in rows if r["codec"] == codec and r["offsets"] == o)
            for o in ("none", "roi")
        )
        gains[codec] = {
            "inside_db": round(with_roi["psnr_y_inside_db"] - base["psnr_y_inside_db"], 2),
            "outside_db": round(with_roi["psnr_y_outside_db"] - base["psnr_y_outside_db"], 2),
            "rate_change_pct": round(100 * (with_roi["video_kbps"] / base["video_kbps"] - 1), 2),
        }
    command = " ".join(["python", "eval/hevc_roi.py", *sys.argv[1:]])
    result = {
        "command": command,
        "clip": args.clip.name,
        "frames": len(frames),
        "size": [width, height],
        "fps": str(fps),
        "bitrate": args.bitrate,
        "preset": args.preset,
        "two_pass": True,
        "box": list(args.box),
        "roi_area_share": round(float(mask.mean()), 4),
        "strength": args.strength,
        "max_delta_qp": args.max_delta_qp,
        "dqp_min": round(float(dqp.min()), 2),
        "dqp_max": round(float(dqp.max()), 2),
        "x264_build": x264_build(),
        "x265_build": x265_build(),
        "rows": rows,
        "offset_effect": gains,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    lines = [
        "# PSNR-Y inside/outside a centred ROI: H.264 (x264) vs HEVC (x265), same offsets",
        "",
        "```sh",
        command,
        "```",
        "",
        f"{args.clip.name}, {len(frames)} frames {width}x{height} at {fps} fps; 2-pass ABR at "
        f"{args.bitrate}, preset {args.preset}; ROI box {tuple(args.box)} "
        f"({100 * mask.mean():.0f} % of the pixels in whole 16x16 blocks); offsets "
        f"roi.qp_offsets(strength {args.strength}, max dQP {args.max_delta_qp}): "
        f"{dqp.min():.1f} inside, up to {dqp.max():+.1f} outside. x264 build {x264_build()}, "
        f"x265 build {x265_build()}.",
        "",
        "| codec | offsets | kbit/s | PSNR-Y ROI (dB) | PSNR-Y outside (dB) | encode (s) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['codec']} | {r['offsets']} | {r['video_kbps']:.1f} | "
            f"{r['psnr_y_inside_db']:.2f} | {r['psnr_y_outside_db']:.2f} | {r['encode_s']} |"
        )
    lines += [
        "",
        "Offsets' effect (roi - none): "
        + "; ".join(
            f"{c}: ROI {g['inside_db']:+.2f} dB, outside {g['outside_db']:+.2f} dB, rate "
            f"{g['rate_change_pct']:+.1f} %"
            for c, g in gains.items()
        )
        + ".",
    ]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
