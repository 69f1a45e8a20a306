"""Offline study of active-speaker signals on the composites of ``eval/active_speaker.py``.

Dumps, per composite frame and face track (real CenterFace detections + DIS tracking, as in
the main script), the mouth signals (``ActiveSpeaker``'s head-compensated patch change, and an
aperture proxy: patch mean minus the mean of its centre, over the patch contrast) and the
audio's 300-3000 Hz band level (dB, 64 ms window centred on the frame), then scores two
simple rules by the share of voiced frames whose top track is the speaker's tile:

- audio: the best Pearson correlation, over lags of -2..2 frames and a causal window growing
  to 40 frames (min 8), between mouth activity (change + 2 |d aperture|) and |d band level
  above its 6 s 10th-percentile floor|, averaged with an EMA of 25 frames;
- visual: the 75th percentile of the mouth change over the last 50 frames.

The rules were chosen on the tuning split (6 draws per speaker and tile count) before the
held-out split (2 draws, as the main script) was scored once.

    python eval/active_speaker_signals.py --out eval/results/active_speaker_signals.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import active_speaker as A  # noqa: E402

from perceptcodec.io.audio import audio_window  # noqa: E402
from perceptcodec.saliency.faces import FaceDetector, FaceTracker  # noqa: E402
from perceptcodec.saliency.motion import MotionSaliency  # noqa: E402
from perceptcodec.saliency.speaker import ActiveSpeaker  # noqa: E402


def dump(names: list[str], setting: str, draws: int) -> list[dict]:
    """Per composite: truth per track id, signals per frame (NaN where a track is absent)."""
    clips = {n: A.load_clip(A.shared_data_dir() / "video/talking", n) for n in names}
    detector = FaceDetector(input_width=2 * A.TILE)
    out = []
    for spec in A.composites(clips, names, setting, draws, 0):
        clip = clips[spec["speaker"]]
        truth = spec["tiles"].index(spec["speaker"])
        tracker, motion, asd = FaceTracker(detector, stride=10), MotionSaliency(), ActiveSpeaker()
        n = int(clip.duration * A.FPS)
        band, voiced = np.zeros(n), np.zeros(n, bool)
        change: dict[int, np.ndarray] = {}
        aperture: dict[int, np.ndarray] = {}
        is_truth: dict[int, bool] = {}
        present: list[list[int]] = []
        for k in range(n):
            t = k / A.FPS
            rgb = A.tile_frame(clips, spec, t)
            motion(rgb)
            tracks = tracker(rgb, motion.flow)
            grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
            win = audio_window(clip.audio, A.RATE, t, 0.064)
            power = np.abs(np.fft.rfft(win * np.hanning(len(win)))) ** 2
            freqs = np.fft.rfftfreq(len(win), 1 / A.RATE)
            band[k] = 10 * np.log10(power[(freqs > 300) & (freqs < 3000)].sum() + 1e-12)
            voiced[k] = clip.speaking(t)
            for tr in tracks:
                if tr.id not in change:
                    change[tr.id], aperture[tr.id] = np.full(n, np.nan), np.full(n, np.nan)
                    is_truth[tr.id] = A.tile_of(tr.box, len(spec["tiles"])) == truth
                change[tr.id][k] = asd._activity(grey, tr, motion.flow)[0]
                patch = asd._crop(grey, asd.mouth_rect(tr))
                if patch is not None:
                    centre = patch[5:11, 6:18]
                    aperture[tr.id][k] = (patch.mean() - centre.mean()) / (patch.std() + 8)
            asd._grey_prev = grey
            present.append([tr.id for tr in tracks])
        out.append(
            {
                "band": band,
                "voiced": voiced,
                "change": change,
                "aperture": aperture,
                "truth": is_truth,
                "present": present,
            }
        )
    return out


def _corr(m: np.ndarray, a: np.ndarray, k: int, window: int = 40, lag: int = 2) -> float | None:
    w = min(window, k + 1 - lag)
    if w < 8:
        return None
    best = -1.0
    for d in range(-lag, lag + 1):
        idx = np.arange(k - w + 1, k + 1) - d
        if idx[0] < 0 or idx[-1] > k:
            continue
        x, y = m[idx], a[k - w + 1 : k + 1]
        ok = np.isfinite(x)
        if ok.sum() < 0.8 * w:
            continue
        x, y = x[ok] - x[ok].mean(), y[ok] - y[ok].mean()
        best = max(best, float(x @ y / (np.sqrt((x @ x) * (y @ y)) + 1e-9)))
    return best


def score_audio(comps: list[dict], tau: float = 25.0) -> float:
    hits = []
    for c in comps:
        band = c["band"]
        floor = np.array(
            [np.percentile(band[max(0, k - 150) : k + 1], 10) for k in range(len(band))]
        )
        level = np.maximum(band - floor, 0)
        audio = np.abs(np.diff(level, prepend=level[0]))
        mouth = {
            i: c["change"][i] + 2 * np.abs(np.diff(c["aperture"][i], prepend=np.nan))
            for i in c["change"]
        }
        ema: dict[int, float] = {}
        count: dict[int, int] = {}
        for k, ids in enumerate(c["present"]):
            for i in ids:
                r = _corr(mouth[i], audio, k)
                if r is not None:
                    count[i] = count.get(i, 0) + 1
                    a = max(1 / tau, 1 / count[i])
                    ema[i] = (1 - a) * ema.get(i, 0.0) + a * r
            if c["voiced"][k]:
                hits.append(bool(ids) and c["truth"][max(ids, key=lambda i: ema.get(i, -2))])
    return float(np.mean(hits))


def _level(change: np.ndarray, k: int, window: int) -> float:
    v = change[max(0, k - window + 1) : k + 1]
    v = v[np.isfinite(v)]
    return float(np.percentile(v, 75)) if len(v) else -1.0


def score_visual(comps: list[dict], window: int = 50) -> float:
    hits = []
    for c in comps:
        for k, ids in enumerate(c["present"]):
            if c["voiced"][k]:
                levels = {i: _level(c["change"][i], k, window) for i in ids}
                hits.append(bool(ids) and c["truth"][max(ids, key=levels.__getitem__)])
    return float(np.mean(hits))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("eval/results/active_speaker_signals.json"))
    args = ap.parse_args()
    cv2.setNumThreads(1)
    results = {"command": "python " + " ".join(sys.argv)}
    for split, names, draws in (("tuning", A.TUNING, 6), ("held_out", A.HELD_OUT, 2)):
        audio, visual = dump(names, "audio", draws), dump(names, "visual", draws)
        results[split] = {"audio": score_audio(audio), "visual": score_visual(visual)}
        print(split, results[split], flush=True)
    args.out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
