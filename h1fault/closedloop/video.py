"""The side-by-side video: one env's first episode under two controllers, same fault, same seed.

Each panel shows a controller's label, the time, the fault once it took effect and the expert
once the controller switched. A panel whose episode ended early (a fall) freezes on its last
frame, marked "fell at ... s", while the other goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from h1fault.closedloop.evaluate import LABELS
from h1fault.closedloop.loop import EpisodeRecord
from h1fault.errors import H1FaultError
from h1fault.sim.model import JOINT_NAMES, load_model
from h1fault.sim.render import FrameRenderer, check_video_path, write_video


def _annotate(frame: np.ndarray, lines: list[tuple[str, tuple[int, int, int]]]) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    img = Image.fromarray(frame)
    draw = ImageDraw.Draw(img)
    size = max(10, frame.shape[0] // 20)
    font = ImageFont.load_default(size=size)
    y = 4
    for text, color in lines:
        draw.text((6, y), text, fill=color, font=font, stroke_width=2, stroke_fill=(255, 255, 255))
        y += size + 3
    return np.asarray(img)


def _panel_lines(rec: EpisodeRecord, step: int) -> list[tuple[str, tuple[int, int, int]]]:
    """Captions of a panel at ``step`` (states traced so far: ``step`` steps after reset)."""
    i, dt = rec.trace_env, rec.control_dt
    lines = [(LABELS.get(rec.controller, rec.controller), (0, 0, 0)), (f"t = {step * dt:4.1f} s",
             (60, 60, 60))]  # fmt: skip
    if rec.trace_command is not None:
        vx, _, wz = (float(v) for v in rec.trace_command[step])
        lines.append((f"command {vx:.2f} m/s, turn {wz:+.2f} rad/s", (60, 60, 60)))
    j = int(rec.fault_joint[i])
    if j >= 0 and step > rec.onset_step[i]:
        scale = float(rec.scale[i])
        lines.append((f"fault: {JOINT_NAMES[j]} at {100 * scale:.0f} % torque", (200, 0, 0)))
    s = int(rec.switch_step[i])
    if 0 <= s <= step:
        lines.append((f"expert: {JOINT_NAMES[int(rec.switch_joint[i])]}", (0, 120, 0)))
    if rec.fell[i] and step >= len(rec.trace_qpos) - 1:
        lines.append((f"fell at {rec.length[i] * dt:.1f} s", (200, 0, 0)))
    return lines


def side_by_side(
    records: list[EpisodeRecord],
    paths: str | Path | Sequence[str | Path],
    width: int = 320,
    height: int = 240,
    fps: float = 25.0,
    max_seconds: float | None = None,
) -> list[Path]:
    """Render the traced env of each record (same env, same seed) into one video, panels left to
    right, written to every path of ``paths`` (say a .webp and a .gif of the same frames).
    max_seconds: cut the video there (default: the longest episode)."""
    if isinstance(paths, str | Path):
        paths = [paths]
    paths = [check_video_path(p) for p in paths]
    if any(r.trace_qpos is None for r in records):
        raise H1FaultError("every row of the video needs a traced env (trace=...)")
    dt = records[0].control_dt
    every = max(1, round(1 / (fps * dt)))
    total = max(len(r.trace_qpos) for r in records)
    if max_seconds is not None:
        total = min(total, int(max_seconds / dt) + 1)
    frames = []
    model = load_model()
    with FrameRenderer(model, width=width, height=height) as renderer:
        last: dict[int, tuple[int, np.ndarray]] = {}  # panel -> (step, frame) rendered last
        for step in range(0, total, every):
            panels = []
            for k, rec in enumerate(records):
                t = min(step, len(rec.trace_qpos) - 1)  # an ended episode freezes
                if k not in last or last[k][0] != t:
                    last[k] = (t, renderer.frame(rec.trace_qpos[t]))
                panels.append(_annotate(last[k][1], _panel_lines(rec, t)))
            frames.append(np.concatenate(panels, axis=1))
    return [write_video(frames, p, fps=1 / (every * dt)) for p in paths]
