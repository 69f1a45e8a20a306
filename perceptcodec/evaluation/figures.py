"""Figures of the HTML report (matplotlib, rendered to PNG bytes).

RD curves: quality (EWPSNR-Y, PSNR-Y in dB, SSIM-Y) against bitrate on a log axis, and under
each a panel of the difference to the anchor (``none``) at equal bitrate: the anchor curve
interpolated linearly in log rate at each point's actual rate, only inside the anchor's range.
Lines that lie on top of each other in the upper panel (7-9 configurations within a fraction
of a dB) separate there without moving any point. Every configuration has its own colour,
marker and line style, and its legend entry carries its BD number for that metric.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from perceptcodec.errors import PerceptcodecError

METRICS = (
    ("ewpsnr_y", "EWPSNR-Y (dB)", "bd_ewpsnr_db", "dB"),
    ("psnr_y", "PSNR-Y (dB)", "bd_psnr_db", "dB"),
    ("ssim_y", "SSIM-Y", "bd_ssim", ""),
)
_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#8C564B",
            "#7F7F7F", "#BCBD22", "#17BECF")  # fmt: skip
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")
_LINES = ("-", "--", "-.", ":")


def pyplot():
    """matplotlib.pyplot on the Agg backend, or a one-line error naming the extra."""
    try:
        import matplotlib
    except ImportError:
        raise PerceptcodecError(
            "perceptcodec report needs matplotlib: pip install 'perceptcodec[eval]'"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png(fig, dpi: int = 80) -> bytes:
    """A figure as PNG bytes (the figure is closed)."""
    plt = pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


def styles(labels: Sequence[str], anchor: str) -> dict[str, dict[str, object]]:
    """A distinct (colour, marker, line style) per label; the anchor black, dashed, hollow."""
    out: dict[str, dict[str, object]] = {}
    others = [label for label in labels if label != anchor]
    for i, label in enumerate(others):
        n = len(_COLOURS)
        out[label] = {
            "color": _COLOURS[i % n],
            "marker": _MARKERS[i % n],
            "ls": _LINES[(i + i // n) % len(_LINES)],
        }
    if anchor in labels:
        out[anchor] = {"color": "black", "marker": "o", "ls": "--", "mfc": "white"}
    return out


def delta_to_anchor(
    rates: Sequence[float], quality: Sequence[float], a_rates: Sequence[float], a_q: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """(rates, quality - anchor at that rate) for the points inside the anchor's rate range;
    the anchor is interpolated linearly in log10(rate)."""
    order = np.argsort(a_rates)
    la, qa = np.log10(np.asarray(a_rates, float)[order]), np.asarray(a_q, float)[order]
    r, q = np.asarray(rates, float), np.asarray(quality, float)
    inside = (np.log10(r) >= la[0]) & (np.log10(r) <= la[-1])
    return r[inside], q[inside] - np.interp(np.log10(r[inside]), la, qa)


def _bd_text(row: dict | None, key: str, unit: str) -> str:
    if row is None or row.get(key) is None:
        return ""
    value = row[key]
    return f" (BD {value:+.5f})" if not unit else f" (BD {value:+.2f} {unit})"


def _rate_ticks(ax, curves: dict[str, dict[str, list[float]]]) -> None:
    """Plain-number ticks at the target bitrates (at most 10), none of matplotlib's 2x10^2."""
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    targets = sorted({t for c in curves.values() for t in c.get("target_kbps", [])})
    if targets:
        step = -(-len(targets) // 10)
        ax.xaxis.set_major_locator(FixedLocator(targets[::step]))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_locator(NullLocator())


def rd_figure(
    curves: dict[str, dict[str, list[float]]],
    bd: dict[str, dict],
    title: str,
    anchor: str = "none",
) -> bytes:
    """RD curves of one run (``curves``: label -> curve with ``actual_kbps`` and the metrics),
    with the difference-to-anchor panels and BD numbers (``bd``: label -> BD row)."""
    plt = pyplot()
    labels = sorted(curves, key=lambda lab: (lab != anchor, lab))
    look = styles(labels, anchor)
    fig, axes = plt.subplots(
        2, 3, figsize=(15, 8.2), sharex="col", gridspec_kw={"height_ratios": [3, 2]}
    )
    for col, (metric, name, bd_key, unit) in enumerate(METRICS):
        top, bottom = axes[0, col], axes[1, col]
        for label in labels:
            c = curves[label]
            shown = "x264 (none, anchor)" if label == anchor else label
            top.plot(
                c["actual_kbps"],
                c[metric],
                ms=5,
                lw=1.3,
                label=shown + _bd_text(bd.get(label), bd_key, unit),
                **look[label],
            )
            if anchor in curves:
                a = curves[anchor]
                r, d = delta_to_anchor(c["actual_kbps"], c[metric], a["actual_kbps"], a[metric])
                bottom.plot(r, d, ms=5, lw=1.3, **look[label])
        top.set_xscale("log")
        top.set_ylabel(name)
        top.set_title(name.split(" ")[0])
        top.grid(alpha=0.3, which="both")
        top.legend(fontsize=7, loc="lower right")
        bottom.set_xscale("log")
        _rate_ticks(bottom, curves)
        bottom.set_xlabel("video bitrate (kbit/s, log scale)")
        bottom.set_ylabel(f"{name.split(' ')[0]} - anchor" + (f" ({unit})" if unit else ""))
        bottom.grid(alpha=0.3, which="both")
    fig.suptitle(title)
    fig.tight_layout()
    return png(fig)
