"""Gaze readers: our CSV format and the SMI export on tiny files; every shared set loads."""

from __future__ import annotations

import numpy as np
import pytest
from media import make_video

from perceptcodec.datasets import (
    read_dhf1k_0002,
    read_eyecrowd,
    read_figrim,
    read_gaze_csv,
    read_mit1003,
    read_osie,
    read_smi_export,
    sigma_from_degrees,
)
from perceptcodec.errors import PerceptcodecError


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("v") / "clip.mp4", 160, 96, frames=5)


def test_csv_gaze_gives_points_and_densities_per_frame(clip, tmp_path):
    table = tmp_path / "gaze.csv"
    table.write_text("frame,x,y,subject\n0,10,20,a\n0,100,50,b\n2,80,40,a\n")
    gaze = read_gaze_csv(clip, table, sigma_px=4)
    assert gaze.frames == 5 and gaze.size == (160, 96)
    assert gaze.points(0)[:, :2].tolist() == [[10, 20], [100, 50]]
    assert gaze.points(0)[:, 3].tolist() == [0, 1]  # subjects numbered by first appearance
    assert gaze.weights(1) is None  # no fixation in frame 1
    dens = gaze.density(2)
    assert dens.shape == (96, 160) and np.unravel_index(dens.argmax(), dens.shape) == (40, 80)
    assert gaze.fix_map(0).sum() == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("frame,x,y\n0,1,2\n", ":1: header"),
        ("frame,x,y,subject\n0,1,2,a\n1,zz,2,a\n", ":3: bad number"),
        ("frame,x,y,subject\n0,1,2\n", ":2: expected 4 fields"),
        ("frame,x,y,subject\n-1,1,2,a\n", ":2: negative frame"),
    ],
)
def test_malformed_csv_names_file_and_line(clip, tmp_path, text, message):
    table = tmp_path / "bad.csv"
    table.write_text(text)
    with pytest.raises(PerceptcodecError, match=message):
        read_gaze_csv(clip, table)


def test_missing_csv(clip, tmp_path):
    with pytest.raises(PerceptcodecError, match="missing"):
        read_gaze_csv(clip, tmp_path / "nope.csv")


def test_smi_export_maps_screen_to_video_and_averages_per_frame(tmp_path):
    header = "Time\tType\tTrial\tL POR X [px]\tL POR Y [px]\tL Event Info\n"
    rows = [
        (0, 720, 225, "Fixation"),  # t0; x = 720 * 640/1440 = 320, y = (225-45) * 4/9 = 80
        (10_000, 720, 252, "Fixation"),  # same frame: y = 92 -> mean 86
        (40_000, 100, 100, "Saccade"),  # frame 1, not a fixation
        (70_000, 1500, 100, "Fixation"),  # frame 2, outside the video: dropped
        (100_000, 0, 45, "Fixation"),  # frame 3 at (0, 0)
    ]
    path = tmp_path / "P01_Trail002.txt"
    path.write_text(header + "".join(f"{t}\tSMP\t1\t{x}\t{y}\t{e}\n" for t, x, y, e in rows))
    fix = read_smi_export(path, subject=7)
    assert np.allclose(fix, [[320, 86, 0, 7], [0, 0, 3, 7]])
    path.write_text(header + "0\tSMP\t1\tabc\t1\tFixation\n")
    with pytest.raises(PerceptcodecError, match=":2: not a number"):
        read_smi_export(path, subject=0)


def test_sigma_from_degrees():
    # 57.3 cm away, 1 cm is about 1 degree; 40 px per cm
    assert sigma_from_degrees(1.0, 57.3, 50.0, 2000) == pytest.approx(40.0, rel=1e-3)


@pytest.mark.slow  # ~30-60 s: reads every image of four sets for its size
@pytest.mark.data
def test_every_shared_image_set_loads(shared_data):
    osie, crowd = read_osie(), read_eyecrowd()
    assert len(osie) == 700 and osie[0].size == (800, 600)
    assert len(osie[0].subjects()) == 15 and len(crowd) == 500
    assert sum(len(r.faces) for r in crowd) == 9778
    mit, figrim = read_mit1003(), read_figrim()
    assert len(mit) == 100 and mit[0].fixations is None
    assert mit[0].density().sum() == pytest.approx(1.0, abs=1e-4)
    assert len(figrim) == 30 and figrim[0].fix_map().shape == (1000, 1000)
    assert figrim[0].fix_map().sum() > 10


@pytest.mark.data
def test_dhf1k_0002_gaze(shared_data):
    gaze = read_dhf1k_0002()
    assert gaze.frames == 783 and gaze.size == (640, 360)
    assert len(gaze.subjects()) == 17
    assert sum(gaze.weights(i) is not None for i in range(0, 783, 10)) >= 75
    pts = gaze.fixations
    assert pts[:, 0].min() >= 0 and pts[:, 0].max() < 640 and pts[:, 1].max() < 360


def _grey_map(path, peak_xy, size=(32, 18)):
    import cv2

    yy, xx = np.mgrid[0 : size[1], 0 : size[0]]
    blob = np.exp(-((xx - peak_xy[0]) ** 2 + (yy - peak_xy[1]) ** 2) / (2 * 2.0**2))
    assert cv2.imwrite(str(path), np.round(255 * blob).astype(np.uint8))


def test_mvva_as_released(clip, tmp_path):
    """The authors' layout (MinglangQiao/MVVA-Database demo.py, demo_face_talking.py): videos in
    mvva_video/, JPEG heat maps save_our_hmap/video_NNN/NNN.jpg from frame 0, face boxes per
    frame, talking labels K x frames."""
    from perceptcodec.datasets import gaze_videos, read_mvva

    (tmp_path / "mvva_video").mkdir()
    (tmp_path / "mvva_video" / "82.mp4").symlink_to(clip)
    maps = tmp_path / "save_our_hmap" / "video_082"
    maps.mkdir(parents=True)
    for i in range(4):  # one frame fewer than the video (5): the last gets no weight
        _grey_map(maps / f"{i:03d}.jpg", (4 + 6 * i, 9))
    tracking = np.empty(4, object)
    tracking[:] = [[[1, 2, 11, 12], [20, 2, 30, 12]], [[1, 2, 11, 12]], [], [[0, 0, 0, 0]]]
    (tmp_path / "face_tracking").mkdir()
    np.save(tmp_path / "face_tracking" / "82.npy", tracking, allow_pickle=True)
    (tmp_path / "face_talking").mkdir()
    np.save(tmp_path / "face_talking" / "82.npy", np.array([[1, 1, 0, 0], [0, 0, 0, 1]]))

    (video,) = read_mvva(tmp_path)
    assert [v.name for v in gaze_videos(str(tmp_path))] == ["mvva_82"]
    assert video.name == "mvva_82" and video.frames == 4 and video.weights(4) is None
    density = video.weights(3)
    assert density.sum() == pytest.approx(1.0, abs=1e-5)
    assert np.unravel_index(density.argmax(), density.shape) == (9, 22)
    assert video.faces.shape == (4, 2, 4) and video.faces[0, 1].tolist() == [20, 2, 30, 12]
    assert np.isnan(video.faces[1, 1]).all() and np.isnan(video.faces[3]).all()
    assert video.speaking.shape == (4, 2) and video.speaking[:, 0].tolist() == [1, 1, 0, 0]
    (maps / "001.jpg").unlink()
    with pytest.raises(PerceptcodecError, match="001.jpg missing"):
        read_mvva(tmp_path)


def test_mvva_as_this_project_first_laid_it_out(clip, tmp_path):
    from perceptcodec.datasets import gaze_videos, read_mvva

    folder = tmp_path / "clip_a"
    (folder / "maps").mkdir(parents=True)
    (folder / "video.mp4").symlink_to(clip)
    for i in range(1, 6):
        m = np.zeros((18, 32), np.float32)
        m[5, 3 * i] = 1.0
        np.save(folder / "maps" / f"{i:04d}.npy", m)
    np.save(folder / "speaking.npy", np.array([[1], [1], [0], [0], [1]]))
    (video,) = read_mvva(tmp_path)
    assert [v.name for v in gaze_videos(str(tmp_path))] == ["clip_a"]
    assert video.frames == 5 and video.speaking.shape == (5, 1) and video.faces is None
    assert video.weights(2)[5, 9] == pytest.approx(1.0)
