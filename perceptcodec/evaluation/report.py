"""Reports of RD results: curves, the BD table against plain x264 (JSON + Markdown), and the
one Markdown table writer the eval/ scripts share.

Results are compared only within a run: the same x264 preset, number of passes, gaze density
and scoring definition (:func:`run_of`); each configuration is measured against the ``none``
result of its own run and video.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from perceptcodec.errors import PerceptcodecError
from perceptcodec.metrics import bd_quality, bd_rate

# Results of format 1 (before the luma fix) carry no scoring definition: their luma went
# through PyAV's format="gray", i.e. range-expanded.
LEGACY_LUMA = "gray (range-expanded; format 1)"
CURVE_KEYS = ("actual_kbps", "psnr_y", "ewpsnr_y", "ssim_y")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table: ``header`` cells, then one line per row (cells formatted with str;
    format numbers before). Ends with a newline."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"row has {len(row)} cells, header {len(header)}")
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(lines) + "\n"


def load_results(paths: Sequence[Path]) -> list[dict]:
    """RD result files (``<video>__<label>[__<key>].json``) as dicts."""
    return [json.loads(Path(p).read_text()) for p in paths]


def run_of(result: dict) -> tuple[object, ...]:
    """What a result shares with its anchor: (preset, two_pass, luma, gaze sigma in px, codec,
    tune). HEVC results are thus measured against HEVC's ``none``, H.264's against H.264's,
    and a run with ``--tune ssim`` against plain x264 with the same tune."""
    c = result["config"]
    return (
        c.get("preset"),
        c.get("two_pass"),
        c.get("luma", LEGACY_LUMA),
        c.get("gaze_sigma_px"),
        c.get("codec", "h264"),
        c.get("tune"),
    )


def run_name(run: tuple[object, ...]) -> str:
    """``medium, 2-pass`` (plus ``, hevc`` for HEVC, ``, tune ssim`` with a tune, and the luma
    when it is not the coded Y plane)."""
    preset, two_pass, luma, _sigma, codec, tune = run
    name = f"{preset}, {'2' if two_pass else '1'}-pass"
    name += "" if codec == "h264" else f", {codec}"
    name += f", tune {tune}" if tune else ""
    return name if luma == _current_luma() else f"{name}, luma: {luma}"


def _current_luma() -> str:
    from perceptcodec.evaluation.scoring import LUMA

    return LUMA


def names(results: Sequence[dict]) -> list[str]:
    """Each result's configuration name: its label, or ``label@key`` where results of the same
    run and video share a label with other settings."""
    count: dict[tuple, int] = {}
    for r in results:
        ident = (run_of(r), r["video"], r["config"]["label"])
        count[ident] = count.get(ident, 0) + 1
    out = []
    for r in results:
        label = r["config"]["label"]
        clash = count[(run_of(r), r["video"], label)] > 1
        out.append(f"{label}@{r.get('key', 'v1')}" if clash else label)
    return out


def curve(result: dict) -> dict[str, list[float]]:
    """One result's points as lists: target_kbps and :data:`CURVE_KEYS`."""
    return {k: [p[k] for p in result["points"]] for k in ("target_kbps", *CURVE_KEYS)}


def mean_curve(results: Sequence[dict], label: str) -> dict[str, list[float]]:
    """Per-bitrate means over the videos of one configuration (``results`` of one run, matched
    by :func:`names`), at the bitrates all its videos share."""
    runs = [r for r, n in zip(results, names(results), strict=True) if n == label]
    if not runs:
        raise PerceptcodecError(f"no results for {label!r}")
    common = set.intersection(*({p["target_kbps"] for p in r["points"]} for r in runs))
    mean: dict[str, list[float]] = {"target_kbps": sorted(common)}
    for key in CURVE_KEYS:
        mean[key] = [
            float(np.mean([p[key] for r in runs for p in r["points"] if p["target_kbps"] == k]))
            for k in mean["target_kbps"]
        ]
    return mean


def _bd_row(a: dict[str, list[float]], b: dict[str, list[float]]) -> dict[str, object]:
    """BD-rate (%) and BD-quality of ``b`` against ``a`` per metric: ``bd_ewpsnr_db``,
    ``bd_psnr_db`` (dB) and ``bd_ssim`` (SSIM units)."""
    row: dict[str, object] = {}
    for metric in ("ewpsnr_y", "psnr_y", "ssim_y"):
        short = metric.split("_")[0]
        quality_key = "bd_ssim" if short == "ssim" else f"bd_{short}_db"
        try:
            row[f"bd_rate_{short}_pct"] = bd_rate(
                a["actual_kbps"], a[metric], b["actual_kbps"], b[metric]
            )
            row[quality_key] = bd_quality(a["actual_kbps"], a[metric], b["actual_kbps"], b[metric])
        except PerceptcodecError as exc:
            row[f"bd_rate_{short}_pct"] = row[quality_key] = None
            row.setdefault("note", str(exc))
    return row


def bd_table(results: Sequence[dict], anchor: str = "none") -> list[dict[str, object]]:
    """BD numbers of every configuration against ``anchor`` of the same run, per video and on
    the mean curve over videos: BD-rate (%) at equal EWPSNR, PSNR and SSIM; BD-EWPSNR and
    BD-PSNR (dB); BD-SSIM (SSIM units, 0..1 scale)."""
    rows = []
    by_run: dict[tuple, list[dict]] = {}
    for r in results:
        by_run.setdefault(run_of(r), []).append(r)
    for run, group in sorted(by_run.items(), key=lambda kv: run_name(kv[0])):
        named = dict(zip(names(group), range(len(group)), strict=False))
        labels = sorted(set(names(group)) - {anchor})
        for video in [*sorted({r["video"] for r in group}), "mean"]:
            for label in labels:
                if video == "mean":
                    if anchor not in named:
                        continue
                    a, b = mean_curve(group, anchor), mean_curve(group, label)
                else:
                    pick = {
                        n: r
                        for r, n in zip(group, names(group), strict=True)
                        if r["video"] == video
                    }
                    if anchor not in pick or label not in pick:
                        continue
                    a, b = curve(pick[anchor]), curve(pick[label])
                rows.append(
                    {
                        "video": video,
                        "run": run_name(run),
                        "config": label,
                        "anchor": anchor,
                        **_bd_row(a, b),
                    }
                )
    return rows


def bd_markdown(rows: Sequence[dict[str, object]]) -> str:
    """The BD table as Markdown (negative BD-rate = fewer bits for the same quality)."""

    def fmt(v: object, digits: int = 2) -> str:
        return "n/a" if v is None else f"{v:+.{digits}f}"

    header = (
        "video",
        "run",
        "config",
        "BD-rate (EWPSNR) %",
        "BD-EWPSNR dB",
        "BD-rate (PSNR) %",
        "BD-PSNR dB",
        "BD-rate (SSIM) %",
        "BD-SSIM",
    )
    keys = ("bd_rate_ewpsnr_pct", "bd_ewpsnr_db", "bd_rate_psnr_pct", "bd_psnr_db")
    cells = [
        (
            r["video"],
            r["run"],
            r["config"],
            *(fmt(r[k]) for k in keys),
            fmt(r.get("bd_rate_ssim_pct")),
            fmt(r.get("bd_ssim"), 5),
        )
        for r in rows
    ]
    return markdown_table(header, cells)


def write_bd_table(out_dir: Path) -> str:
    """BD table of every result in ``out_dir`` (bd.json, bd.md); returns the Markdown."""
    rows = bd_table(load_results(sorted(out_dir.glob("*__*.json"))))
    (out_dir / "bd.json").write_text(json.dumps(rows, indent=1))
    markdown = bd_markdown(rows)
    (out_dir / "bd.md").write_text(markdown)
    return markdown
