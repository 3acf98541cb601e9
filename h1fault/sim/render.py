"""Offscreen frames of the H1 from joint states, and video files (GIF or WebP with Pillow, MP4 with
ffmpeg).

MuJoCo picks its GL backend from ``MUJOCO_GL`` when it is first imported: ``egl`` on GPU
machines, ``osmesa`` on CPU machines (``apt-get install libosmesa6``; about 1 s per 320x240
frame on a 2-core VM). Set it before Python starts (``MUJOCO_GL=egl h1fault ...``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from collections.abc import Sequence
from pathlib import Path

import mujoco
import numpy as np

from h1fault.errors import H1FaultError

VIDEO_SUFFIXES = (".gif", ".webp", ".mp4")
"""Animated GIF (plays everywhere), animated WebP (lossy, ~5x smaller), MP4 (needs ffmpeg)."""


def check_video_path(path: str | Path) -> Path:
    """One-line error unless ``path`` is a .gif, a .webp, or a .mp4 with ffmpeg on PATH (checked
    before a long run rather than after it)."""
    path = Path(path)
    if path.suffix not in VIDEO_SUFFIXES:
        raise H1FaultError(f"video must end in .gif, .webp or .mp4, got {path.name}")
    if path.suffix == ".mp4" and shutil.which("ffmpeg") is None:
        raise H1FaultError("writing .mp4 needs ffmpeg on PATH; use a .gif path instead")
    return path


class FrameRenderer:
    """Renders the H1 at given joint states: ``frame(qpos (nq,)) -> (height, width, 3) uint8``.

    Only positions matter for a picture: each frame sets ``qpos`` and runs ``mj_forward``.
    """

    def __init__(
        self, model: mujoco.MjModel, width: int = 320, height: int = 240, camera: str = "track"
    ) -> None:
        self.model = model
        self.data = mujoco.MjData(model)
        self.camera = camera
        try:
            with warnings.catch_warnings():  # GLFW warns before it fails: one line, not three
                warnings.simplefilter("ignore")
                self._renderer = mujoco.Renderer(model, height=height, width=width)
        except Exception as exc:  # noqa: BLE001 - GL backends fail in many ways
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            gl = os.environ.get("MUJOCO_GL", "")
            raise H1FaultError(
                f"offscreen rendering unavailable with MUJOCO_GL={gl!r}"
                " (set MUJOCO_GL=egl on a GPU machine, or MUJOCO_GL=osmesa with libosmesa6 "
                f"installed on a CPU machine, before starting Python): {first[:160]}"
            ) from None

    def frame(self, qpos: np.ndarray) -> np.ndarray:
        """qpos: (nq,) float64 state of one robot. Returns (height, width, 3) uint8 RGB."""
        self.data.qpos[:] = qpos
        mujoco.mj_forward(self.model, self.data)
        self._renderer.update_scene(self.data, camera=self.camera)
        return self._renderer.render().copy()

    def close(self) -> None:
        """Free the GL context now (at interpreter exit some backends fail noisily)."""
        self._renderer.close()

    def __enter__(self) -> FrameRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_rendering(model: mujoco.MjModel) -> None:
    """One-line error now, rather than after a long rollout, if no offscreen GL works here."""
    with FrameRenderer(model, width=16, height=16):
        pass


def write_video(frames: Sequence[np.ndarray], path: str | Path, fps: float) -> Path:
    """Write (H, W, 3) uint8 frames as an animated GIF or WebP (Pillow) or an MP4 (ffmpeg)."""
    path = check_video_path(path)
    if not frames:
        raise H1FaultError("no frames to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix in (".gif", ".webp"):
        from PIL import Image

        images = [Image.fromarray(f) for f in frames]
        extra = {"quality": 75, "method": 4} if path.suffix == ".webp" else {"optimize": False}
        images[0].save(path, save_all=True, append_images=images[1:],
                       duration=round(1000 / fps), loop=0, **extra)  # fmt: skip
        return path
    h, w = frames[0].shape[:2]
    cmd = ["ffmpeg", "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{w}x{h}", "-r", f"{fps:g}", "-i", "-", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2",
           "-pix_fmt", "yuv420p", str(path)]  # fmt: skip
    subprocess.run(cmd, input=b"".join(np.ascontiguousarray(f).tobytes() for f in frames),
                   check=True)  # fmt: skip
    return path
