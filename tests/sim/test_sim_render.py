"""Offscreen rendering and video files: ``play --video`` writes a GIF of env 0's first episode.

MuJoCo reads MUJOCO_GL when it is first imported, so rendering runs in a child process with
MUJOCO_GL=osmesa (or the caller's MUJOCO_GL); the test is skipped where no GL backend works.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from h1fault.errors import H1FaultError
from h1fault.sim.render import check_video_path, write_video

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("MUJOCO_GL", "osmesa")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


@functools.cache
def _gl_problem() -> str | None:
    """None if a tiny offscreen render works in a child process, else why not."""
    code = (
        "import mujoco\nfrom h1fault.sim.render import FrameRenderer\nfrom h1fault.sim.model "
        "import load_model\nm = load_model()\nwith FrameRenderer(m, 32, 24) as r:\n"
        "    assert r.frame(m.key('home').qpos).shape == (24, 32, 3)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    if run.returncode == 0:
        return None
    last = (run.stderr.strip().splitlines() or ["unknown error"])[-1]
    return f"no offscreen GL backend (MUJOCO_GL={_env()['MUJOCO_GL']}): {last[:200]}"


def test_video_path_is_checked_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(H1FaultError, match=r"\.gif, \.webp or \.mp4"):
        check_video_path(tmp_path / "v.avi")


def test_gif_writer_keeps_every_frame(tmp_path: Path) -> None:
    from PIL import Image

    frames = [np.full((8, 12, 3), 40 * k, dtype=np.uint8) for k in range(5)]
    path = write_video(frames, tmp_path / "v.gif", fps=25)
    with Image.open(path) as img:
        assert img.n_frames == 5 and img.size == (12, 8)
        img.seek(3)
        assert np.asarray(img.convert("RGB"))[0, 0, 0] == 120


def test_webp_writer_keeps_every_frame(tmp_path: Path) -> None:
    from PIL import Image

    frames = [np.full((8, 12, 3), 40 * k, dtype=np.uint8) for k in range(4)]
    with Image.open(write_video(frames, tmp_path / "v.webp", fps=25)) as img:
        assert img.n_frames == 4 and img.size == (12, 8)


def test_play_video_writes_a_gif_of_the_first_episode(tmp_path: Path) -> None:
    problem = _gl_problem()
    if problem:
        pytest.skip(problem)
    out = tmp_path / "play.gif"
    # 0.2 s episodes (10 steps), a frame every 2nd step: 1 + 5 frames at 160x120
    code = (
        "import dataclasses\nfrom h1fault.rl.play import play, _VideoRecorder\n"
        "from h1fault.rl.policy import load_policy\nfrom h1fault.sim.task import EnvConfig\n"
        "_VideoRecorder.__init__.__defaults__ = (160, 120)\n"
        "cfg = dataclasses.replace(EnvConfig(), episode_length_s=0.2)\n"
        f"play(load_policy(), cfg, episodes=2, video={str(out)!r}, show_progress=False)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True,
                         text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    from PIL import Image

    with Image.open(out) as img:
        assert img.size == (160, 120)
        assert 2 <= img.n_frames <= 6  # env 0's one episode only, never its second
        first = np.asarray(img.convert("RGB")).astype(int)
    assert first.std() > 5  # a picture, not a blank frame
