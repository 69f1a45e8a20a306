"""``perceptcodec report RESULTS... -o report.html``: one static, self-contained HTML page
(figures embedded as base64 PNG; no server, no scripts) from RD results.

Per run (preset, passes, codec): RD curves of the mean over videos (and of each video, up to
``max_videos``) with difference-to-anchor panels and BD values (:mod:`.figures`), and the BD
table with SSIM. With ``datasets`` (the specs given to ``rd``), per video: frame grabs
(:mod:`.grabs`).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from perceptcodec.errors import PerceptcodecError
from perceptcodec.evaluation.report import (
    bd_table,
    curve,
    load_results,
    mean_curve,
    names,
    run_name,
    run_of,
)

ANCHOR = "none"


@dataclass(frozen=True)
class ReportOptions:
    """results: RD result files or folders of them; output: the .html to write; datasets:
    ``rd`` data set specs whose videos get frame grabs (none: no grabs); grab_kbps: bitrate of
    the grabs (None: the lowest of the run); grab_config: configuration label shown against
    plain x264 (None: the default model's, else the first); max_videos: videos with their own
    RD figure and grabs; force: overwrite an existing output."""

    results: tuple[Path, ...]
    output: Path
    datasets: tuple[str, ...] = ()
    grab_kbps: int | None = None
    grab_config: str | None = None
    max_videos: int = 4
    force: bool = False


def result_files(paths: Sequence[Path]) -> list[Path]:
    """The result JSONs among ``paths`` (a folder: its ``*__*.json``, hidden files left out)."""
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files += sorted(f for f in p.glob("*__*.json") if not f.name.startswith("."))
        elif p.is_file():
            files.append(p)
        else:
            raise PerceptcodecError(f"{p}: no such file or folder")
    if not files:
        raise PerceptcodecError(
            f"no RD results (<video>__<label>*.json) in {', '.join(map(str, paths))}"
        )
    return files


def unique_results(results: Sequence[dict]) -> list[dict]:
    """One result per (video, settings key): a file given twice (or copied into two folders)
    counts once, the copy with the most points kept."""
    best: dict[tuple[str, str], dict] = {}
    for r in results:
        ident = (r["video"], r.get("key") or r["config"]["label"])
        if ident not in best or len(r["points"]) > len(best[ident]["points"]):
            best[ident] = r
    return list(best.values())


def _img(data: bytes, alt: str) -> str:
    encoded = base64.b64encode(data).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


def _fmt(v: object, digits: int = 2) -> str:
    return "n/a" if v is None else f"{v:+.{digits}f}"


def bd_html(rows: Sequence[dict]) -> str:
    """The BD table (mean rows first) as an HTML table."""
    head = (
        "video", "config", "BD-rate EWPSNR %", "BD-EWPSNR dB", "BD-rate PSNR %", "BD-PSNR dB",
        "BD-rate SSIM %", "BD-SSIM",
    )  # fmt: skip
    ordered = sorted(rows, key=lambda r: (r["video"] != "mean", r["video"], r["config"]))
    out = ["<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"]
    for r in ordered:
        cells = [
            r["video"],
            r["config"],
            _fmt(r["bd_rate_ewpsnr_pct"]),
            _fmt(r["bd_ewpsnr_db"]),
            _fmt(r["bd_rate_psnr_pct"]),
            _fmt(r["bd_psnr_db"]),
            _fmt(r.get("bd_rate_ssim_pct")),
            _fmt(r.get("bd_ssim"), 5),
        ]
        cls = ' class="mean"' if r["video"] == "mean" else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells))
    return "\n".join(out) + "</table>"


def _pick_label(labels: Sequence[str], wanted: str | None) -> str | None:
    from perceptcodec.saliency import DEFAULT_MODEL

    models = sorted(set(labels) - {ANCHOR})
    if wanted is not None:
        if wanted not in models:
            raise PerceptcodecError(f"--grab-config {wanted!r}: not among {', '.join(models)}")
        return wanted
    default = [m for m in models if m.startswith(f"{DEFAULT_MODEL}-")]
    return (default or models or [None])[0]


def _run_section(group: list[dict], options: ReportOptions) -> str:
    from perceptcodec.evaluation.figures import rd_figure

    labels = names(group)
    run = run_name(run_of(group[0]))
    rows = [r for r in bd_table(group, ANCHOR)]
    videos = sorted({r["video"] for r in group})
    parts = [f"<h2>Run: {html.escape(run)}</h2>"]
    mean_bd = {r["config"]: r for r in rows if r["video"] == "mean"}
    curves = {label: mean_curve(group, label) for label in sorted(set(labels))}
    title = f"mean over {len(videos)} video(s) ({run})"
    parts.append(_img(rd_figure(curves, mean_bd, title, ANCHOR), title))
    if len(videos) > 1:
        for video in videos[: options.max_videos]:
            per = {n: curve(r) for r, n in zip(group, labels, strict=True) if r["video"] == video}
            bd = {r["config"]: r for r in rows if r["video"] == video}
            parts.append(_img(rd_figure(per, bd, f"{video} ({run})", ANCHOR), video))
    parts.append("<h3>BD against plain x264 (none) of the same run</h3>")
    parts.append(bd_html(rows))
    return "\n".join(parts)


def _grab_section(results: list[dict], options: ReportOptions, log: Callable[[str], None]) -> str:
    from perceptcodec.datasets import gaze_videos
    from perceptcodec.evaluation.grabs import grabs_figure, make_grabs

    videos = {v.name: v for spec in options.datasets for v in gaze_videos(spec)}
    parts = ["<h2>Frame grabs</h2>"]
    shown = 0
    for name in sorted({r["video"] for r in results}):
        if name not in videos or shown >= options.max_videos:
            continue
        by_run: dict[tuple, list[dict]] = {}
        for r in results:
            if r["video"] == name:
                by_run.setdefault(run_of(r), []).append(r)
        for run, group in sorted(by_run.items(), key=lambda kv: run_name(kv[0])):
            named = dict(zip(names(group), group, strict=True))
            label = _pick_label(list(named), options.grab_config)
            if ANCHOR not in named or label is None:
                continue
            anchor, test = named[ANCHOR], named[label]
            rates = sorted({p["target_kbps"] for p in anchor["points"]}
                           & {p["target_kbps"] for p in test["points"]})  # fmt: skip
            kbps = options.grab_kbps or rates[0]
            log(
                f"report: frame grabs of {name} ({label} vs none at {kbps} kbit/s, {run_name(run)})"
            )
            grabs = make_grabs(videos[name], anchor, test, kbps)
            parts.append(f"<h3>{html.escape(name)} ({html.escape(run_name(run))})</h3>")
            parts.append(_img(grabs_figure(grabs), f"frame grabs of {name}"))
            shown += 1
            break
    if shown == 0:
        parts.append("<p>No video of the results is in the data sets given.</p>")
    return "\n".join(parts)


CSS = """body{font-family:sans-serif;margin:1.5em;max-width:1250px;color:#222}
img{max-width:100%;display:block;margin:.5em 0 1.5em}
table{border-collapse:collapse;font-size:.9em;margin-bottom:2em}
td,th{border:1px solid #bbb;padding:.25em .6em;text-align:right}
td:first-child,td:nth-child(2),th{text-align:left}tr.mean{font-weight:bold;background:#eef}
.meta{color:#555;font-size:.9em}"""


def build_report(options: ReportOptions, log: Callable[[str], None] = print) -> Path:
    """Write the report; returns its path. Written to a temporary file and renamed: an
    interrupted or failed build leaves nothing."""
    from perceptcodec.evaluation.figures import pyplot
    from perceptcodec.io.sink import atomic_output, check_output

    if options.output.suffix.lower() not in (".html", ".htm"):
        raise PerceptcodecError(f"{options.output}: the report is an .html file")
    check_output(options.output, overwrite=options.force)
    pyplot()  # matplotlib missing: say so before any work
    files = result_files(options.results)
    results = unique_results(load_results(files))
    runs: dict[tuple, list[dict]] = {}
    for r in results:
        runs.setdefault(run_of(r), []).append(r)
    commits = sorted({p["versions"].get("code", "?")[:12] for r in results for p in r["points"]
                      if "versions" in p})  # fmt: skip
    body = [
        "<h1>Perceptual coding: rate-distortion report</h1>",
        f'<p class="meta">{len(files)} result files, {len({r["video"] for r in results})} '
        f"video(s), {len(runs)} run(s); code {html.escape(', '.join(commits) or 'unknown')}. "
        "EWPSNR-Y weights each pixel's error by the viewers' fixation density of that frame; "
        "the lower panels show each configuration minus plain x264 at equal bitrate (the "
        "anchor interpolated in log rate), so curves that overlap above separate there. "
        "BD values: Bjontegaard, cubic fits over the shared range; negative BD-rate = fewer "
        "bits for equal quality.</p>",
    ]
    for _run, group in sorted(runs.items(), key=lambda kv: run_name(kv[0])):
        body.append(_run_section(group, options))
    if options.datasets:
        body.append(_grab_section(results, options, log))
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>RD report</title><style>{CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
    with atomic_output(options.output, overwrite=options.force) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return options.output
