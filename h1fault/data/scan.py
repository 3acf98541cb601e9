"""Pass 1 over a raw file: episodes, labels from the event table, and the cross-check.

Reads only the small per-step flags, in blocks of steps across all envs, so memory stays bounded
by the block size plus one row per episode. For each env the step stream is cut into episodes at
``done``; each episode gets its fault (first event of that env and episode: joint, onset step,
scale), and the label each step *should* have (``-1`` before the onset and in fault-free
episodes, the joint from the onset to the episode end) is compared with the per-step fault state
that collect logged. Disagreements are counted per category (below) and per episode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from h1fault.data.h5io import RawInfo
from h1fault.data.schema import EPISODE_DTYPE, EVENT_DTYPE, OBS_DIM, RAW_STEP_DATASETS
from h1fault.errors import H1FaultError

CATEGORIES = ("cut_at_reset", "cut_without_event", "event_without_cut", "wrong_joint",
              "flag_state")  # fmt: skip
"""Cross-check categories (``cut_at_reset`` counts episodes, the others count steps)."""
CATEGORY_TEXT = {
    "cut_at_reset": "episodes start with a joint still cut (torque limit not restored at reset)",
    "cut_without_event": "steps have a cut joint but no fault event",
    "event_without_cut": "steps after a logged onset show no cut",
    "wrong_joint": "steps have a different joint cut than the event says",
    "flag_state": "steps have torque_limit/saturated inconsistent with the cut state",
}
FLAG_BYTES = sum(dt.itemsize for dt in RAW_STEP_DATASETS.values())
"""Bytes of per-step flags per env and step (17)."""
_FLAG_BLOCK_BYTES = 32 << 20
_OBS_BLOCK_BYTES = 96 << 20


@dataclass
class RawScan:
    """Episodes and cross-check of one raw file (``start`` is relative to this file's output)."""

    info: RawInfo
    """The file."""
    episodes: np.ndarray
    """(K,) :data:`EPISODE_DTYPE`, env-major order; ``source`` 0 and ``split`` -1 until build."""
    keep_steps: np.ndarray
    """(N,) int64: rows kept per env (all written steps, or up to the unfinished episode)."""
    crosscheck: dict[str, int]
    """Category -> count over kept episodes (see :data:`CATEGORIES`)."""
    examples: dict[str, str] = field(default_factory=dict)
    """Category -> where it happens first, in words."""
    events_used: int = 0
    """Events attached to kept episodes."""
    events_ignored: int = 0
    """Events past the flushed steps (interrupted run) or in dropped episodes."""
    dropped_episodes: int = 0
    """Unfinished episodes dropped (``--allow-partial``)."""
    nonfinite_rows: int = -1
    """Samples with a non-finite obs value (-1: obs not checked)."""
    first_nonfinite: str = ""
    """Where the first one is."""

    @property
    def env_offset(self) -> np.ndarray:
        """(N+1,) int64: output row where each env's stream starts (env-major order)."""
        return np.concatenate([[0], np.cumsum(self.keep_steps)]).astype(np.int64)

    @property
    def num_samples(self) -> int:
        """Kept samples M."""
        return int(self.keep_steps.sum())


def _block_rows(f: h5py.File, n: int, bytes_per_cell: int, budget: int) -> int:
    chunk_t = (f["done"].chunks or (1,))[0]
    rows = max(1, budget // max(1, n * bytes_per_cell))
    return max(chunk_t, rows // chunk_t * chunk_t)


def _load_events(f: h5py.File, info: RawInfo) -> tuple[np.ndarray, int]:
    """Events that took effect in the flushed steps (sorted), and how many were ignored."""
    n_written = int(f.attrs.get("num_events_written", f["events"].shape[0]))
    ev = f["events"][: min(n_written, f["events"].shape[0])]
    if ev.dtype.names is None or any(k not in ev.dtype.names for k in EVENT_DTYPE.names):
        raise H1FaultError(f"{info.path}: events table has fields {ev.dtype.names}, "
                           f"expected {EVENT_DTYPE.names}")  # fmt: skip
    ev = ev.astype(EVENT_DTYPE)
    keep = ev["global_step"] < info.num_steps
    ignored = int((~keep).sum())
    ev = ev[keep]
    bad = (ev["env"] < 0) | (ev["env"] >= info.num_envs) | (ev["joint"] < 0) | (ev["joint"] >= 19)
    bad |= ev["global_step"] < 0
    if bad.any():
        r = ev[np.argmax(bad)]
        raise H1FaultError(f"{info.path}: malformed event (env {r['env']}, joint {r['joint']}, "
                           f"step {r['global_step']}); file is corrupt")  # fmt: skip
    order = np.lexsort((ev["step_in_episode"], ev["episode"], ev["env"]))
    return ev[order], ignored


def _where(t: int, n: int, ep: int, sie: int) -> str:
    return f"env {n}, episode {ep}, step {sie} (row {t})"


def scan_raw(
    f: h5py.File,
    info: RawInfo,
    allow_partial: bool = False,
    check_obs: bool = False,
    advance: object = None,
) -> RawScan:
    """Pass 1 over an open raw file (see module docstring).

    allow_partial: accept a file without the ``complete`` attr and drop each env's unfinished
    episode; otherwise such a file is a one-line error.
    check_obs: also stream the observations and count non-finite samples (for ``stats``).
    advance: optional progress callback taking a byte count.
    """
    path, t_total, n = info.path, info.num_steps, info.num_envs
    if not info.complete and not allow_partial:
        raise H1FaultError(
            f"{path} is incomplete ({t_total:,} of {info.num_steps_planned:,} steps flushed, no "
            "'complete' flag: the collect run was interrupted); pass --allow-partial to use it "
            "without the unfinished episode of each env"
        )
    if t_total == 0:
        raise H1FaultError(f"{path} holds no steps")
    events, ignored = _load_events(f, info)
    faults = _FaultGroups.of(events)
    state = _PassState(n)
    tb = _block_rows(f, n, FLAG_BYTES, _FLAG_BLOCK_BYTES)
    for t0 in range(0, t_total, tb):
        t1 = min(t0 + tb, t_total)
        b = {k: f[k][t0:t1] for k in RAW_STEP_DATASETS}
        if advance is not None:
            advance(sum(v.nbytes for v in b.values()))
        _check_step_stream(path, b, t0, state)
        state.add_episode_ends(b, t0)
        _check_events_on_rows(path, events, b, t0, t1)
        state.add_crosscheck(b, t0, faults, info.derived_fault_state)
        state.add_first_saturations(b, t0)
        state.carry(b)
    eps, keep_steps, dropped = state.episodes(t_total, info.complete)
    table, ekey = _episode_table(eps, keep_steps, faults, state.sat_parts)
    crosscheck, examples = _crosscheck(table, ekey, state)
    used = int(table["num_events"].sum())
    scan = RawScan(
        info=info, episodes=table, keep_steps=keep_steps, crosscheck=crosscheck,
        examples=examples, events_used=used, events_ignored=ignored + len(events) - used,
        dropped_episodes=dropped,
    )  # fmt: skip
    if check_obs:
        _scan_obs(f, scan, advance)
    return scan


@dataclass
class _FaultGroups:
    """Each (env, episode) that has events, sorted by ``key = env << 32 | episode``, with its
    first event's fault (the episode's fault) and its event count. Every array is (G,)."""

    key: np.ndarray
    joint: np.ndarray
    onset: np.ndarray
    scale: np.ndarray
    count: np.ndarray

    @classmethod
    def of(cls, events: np.ndarray) -> _FaultGroups:
        """From the sorted :func:`_load_events` table."""
        ev_key = (events["env"].astype(np.int64) << 32) | events["episode"].astype(np.int64)
        key, first, count = np.unique(ev_key, return_index=True, return_counts=True)
        return cls(
            key, events["joint"][first].astype(np.int16),
            events["step_in_episode"][first].astype(np.int64), events["scale"][first], count,
        )  # fmt: skip

    def lookup(self, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions of ``key`` (any shape) in the groups and whether each is there."""
        pos = np.minimum(np.searchsorted(self.key, key), len(self.key) - 1)
        return pos, self.key[pos] == key


class _PassState:
    """What pass 1 carries from one block of steps to the next, and collects along the way."""

    def __init__(self, n: int) -> None:
        self.env_ids = np.arange(n, dtype=np.int64)
        self.prev_done = np.zeros(n, bool)
        self.prev_sie = np.zeros(n, np.int64)
        self.prev_ep = np.zeros(n, np.int64)
        self.open_start = np.zeros(n, np.int64)
        """Per env: first row of its episode still open at the end of the last block."""
        self.pieces: list[tuple[np.ndarray, ...]] = []
        """Ended episodes: env, t_start, t_end, episode, terminated, ended."""
        self.cat_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        """Cross-check counts: key, category index, count."""
        self.sat_parts: list[tuple[np.ndarray, np.ndarray]] = []
        """First saturation per key seen in a block: key, step in episode."""
        self.first: dict[str, tuple[int, int, int, int]] = {}
        """Category -> (row, env, episode, step) of its first occurrence."""

    def add_episode_ends(self, b: dict[str, np.ndarray], t0: int) -> None:
        """Record the episodes that end in this block (env-major, time ascending)."""
        e_n, e_t = np.nonzero(b["done"].T)
        if not len(e_n):
            return
        e_t = e_t.astype(np.int64) + t0
        same = np.r_[False, e_n[1:] == e_n[:-1]]
        starts = np.where(same, np.r_[0, e_t[:-1] + 1], self.open_start[e_n])
        ep, term = b["episode"].astype(np.int64), b["terminated"]
        self.pieces.append((e_n.astype(np.int64), starts, e_t, ep[e_t - t0, e_n],
                            term[e_t - t0, e_n], np.ones(len(e_n), bool)))  # fmt: skip
        np.maximum.at(self.open_start, e_n, e_t + 1)

    def add_crosscheck(
        self, b: dict[str, np.ndarray], t0: int, faults: _FaultGroups, derived: bool
    ) -> None:
        """Compare the labels the events imply with the logged fault state, per category."""
        ep = b["episode"].astype(np.int64)
        sie = b["step_in_episode"].astype(np.int64)
        key = (self.env_ids[None, :] << 32) | ep
        if len(faults.key):
            pos, found = faults.lookup(key)
            joint = np.where(found, faults.joint[pos], -1)
            onset = np.where(found, faults.onset[pos], np.iinfo(np.int64).max)
            expected = np.where(sie >= onset, joint, -1)
        else:
            expected = np.full(key.shape, -1, np.int16)
        logged = b["fault_joint"].astype(np.int16)
        cut, sat = logged >= 0, b["saturated"]
        cut_wo = cut & (expected < 0)
        masks = {
            "cut_at_reset": cut_wo & (sie == 0),
            "cut_without_event": cut_wo,
            "event_without_cut": (expected >= 0) & ~cut,
            "wrong_joint": (expected >= 0) & cut & (expected != logged),
            "flag_state": (sat & ~cut)
            if derived
            else (np.isfinite(b["torque_limit"]) != cut) | (sat & ~cut),
        }
        for ci, cat in enumerate(CATEGORIES):
            m = masks[cat]
            if not m.any():
                continue
            keys, counts = np.unique(key[m], return_counts=True)
            self.cat_parts.append((keys, np.full(len(keys), ci), counts))
            if cat not in self.first:
                bt, bn = np.unravel_index(np.argmax(m), m.shape)
                self.first[cat] = (t0 + int(bt), int(bn), int(ep[bt, bn]), int(sie[bt, bn]))

    def add_first_saturations(self, b: dict[str, np.ndarray], t0: int) -> None:
        """The first saturated step of each (env, episode) in this block."""
        sat = b["saturated"]
        if not sat.any():
            return
        key = (self.env_ids[None, :] << 32) | b["episode"].astype(np.int64)
        ks, ss = key[sat], b["step_in_episode"].astype(np.int64)[sat]
        order = np.lexsort((ss, ks))
        ks, ss = ks[order], ss[order]
        lead = np.r_[True, ks[1:] != ks[:-1]]
        self.sat_parts.append((ks[lead], ss[lead]))

    def carry(self, b: dict[str, np.ndarray]) -> None:
        """Keep the block's last row: the next block's stream check starts from it."""
        self.prev_done = b["done"][-1].copy()
        self.prev_sie = b["step_in_episode"][-1].astype(np.int64)
        self.prev_ep = b["episode"][-1].astype(np.int64)

    def episodes(
        self, t_total: int, complete: bool
    ) -> tuple[tuple[np.ndarray, ...], np.ndarray, int]:
        """All episodes (env, t_start, t_end, episode, terminated, ended), env-major, with the
        unfinished ones (cut by the end of the file) dropped unless the file is complete.

        Returns them, the rows kept per env (N,) and how many were dropped.
        """
        pieces = list(self.pieces)
        open_n = np.flatnonzero(self.open_start < t_total)
        if len(open_n):
            pieces.append((open_n.astype(np.int64), self.open_start[open_n],
                           np.full(len(open_n), t_total - 1, np.int64), self.prev_ep[open_n],
                           np.zeros(len(open_n), bool), np.zeros(len(open_n), bool)))  # fmt: skip
        eps = tuple(np.concatenate(c) for c in zip(*pieces, strict=True))
        order = np.lexsort((eps[1], eps[0]))
        eps = tuple(a[order] for a in eps)
        keep_steps = np.full(len(self.env_ids), t_total, np.int64)
        dropped = 0
        if not complete:
            unfinished = ~eps[5]
            keep_steps[eps[0][unfinished]] = eps[1][unfinished]
            dropped = int(unfinished.sum())
            eps = tuple(a[~unfinished] for a in eps)
        return eps, keep_steps, dropped


def _check_step_stream(path: Path, b: dict[str, np.ndarray], t0: int, state: _PassState) -> None:
    """One-line error unless every env's counters continue the previous row: step in episode
    +1 (0 after a done), episode +1 after a done, ``done = terminated | truncated``."""
    done = b["done"]
    ep = b["episode"].astype(np.int64)
    sie = b["step_in_episode"].astype(np.int64)
    if t0 == 0 and (sie[0] != 0).any():
        bad_n = int(np.argmax(sie[0] != 0))
        raise H1FaultError(f"{path}: env {bad_n} does not start at an episode start "
                           f"(step_in_episode {sie[0, bad_n]} at row 0)")  # fmt: skip
    p_done = np.vstack([state.prev_done[None], done[:-1]])
    p_sie = np.vstack([state.prev_sie[None], sie[:-1]])
    p_ep = np.vstack([state.prev_ep[None], ep[:-1]])
    bad = (sie != np.where(p_done, 0, p_sie + 1)) | (ep != p_ep + p_done)
    if t0 == 0:
        bad[0] = False
    bad |= done != (b["terminated"] | b["truncated"])
    if bad.any():
        bt, bn = np.unravel_index(np.argmax(bad), bad.shape)
        raise H1FaultError(
            f"{path}: step stream of env {bn} is inconsistent at row {t0 + bt} (episode "
            f"{ep[bt, bn]}, step_in_episode {sie[bt, bn]}, done {bool(done[bt, bn])}); "
            "file is corrupt"
        )


def _check_events_on_rows(
    path: Path, events: np.ndarray, b: dict[str, np.ndarray], t0: int, t1: int
) -> None:
    """One-line error unless each event in rows [t0, t1) names its row's episode and step."""
    ev_rows = events["global_step"]
    in_blk = (ev_rows >= t0) & (ev_rows < t1)
    if not in_blk.any():
        return
    e = events[in_blk]
    r = e["global_step"] - t0
    ep, sie = b["episode"], b["step_in_episode"]
    ok = (ep[r, e["env"]] == e["episode"]) & (sie[r, e["env"]] == e["step_in_episode"])
    if not ok.all():
        x = e[np.argmin(ok)]
        raise H1FaultError(
            f"{path}: event at row {x['global_step']} (env {x['env']}, episode "
            f"{x['episode']}, step {x['step_in_episode']}) does not match the step "
            "stream; file is corrupt"
        )


def _episode_table(
    eps: tuple[np.ndarray, ...],
    keep_steps: np.ndarray,
    faults: _FaultGroups,
    sat_parts: list[tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """The (K,) :data:`EPISODE_DTYPE` table of the kept episodes with their fault and first
    saturation, and their keys (K,) ``env << 32 | episode``."""
    env_a, ts_a, te_a, ep_a, term_a, ended_a = eps
    table = np.zeros(len(env_a), dtype=EPISODE_DTYPE)
    offsets = np.concatenate([[0], np.cumsum(keep_steps)])
    table["env"] = env_a
    table["episode"] = ep_a
    table["start"] = offsets[env_a] + ts_a
    table["length"] = te_a - ts_a + 1
    table["terminated"] = term_a
    table["ended"] = ended_a
    table["split"] = -1
    ekey = (env_a.astype(np.int64) << 32) | ep_a.astype(np.int64)
    table["fault_joint"], table["onset"], table["scale"] = -1, -1, np.nan
    if len(faults.key):
        pos, found = faults.lookup(ekey)
        table["fault_joint"] = np.where(found, faults.joint[pos], -1)
        table["onset"] = np.where(found, faults.onset[pos], -1)
        table["scale"] = np.where(found, faults.scale[pos], np.nan)
        table["num_events"] = np.where(found, faults.count[pos], 0)
    table["first_saturation"] = -1
    if sat_parts:
        ks = np.concatenate([p[0] for p in sat_parts])
        ss = np.concatenate([p[1] for p in sat_parts])
        order = np.lexsort((ss, ks))
        ks, ss = ks[order], ss[order]
        lead = np.r_[True, ks[1:] != ks[:-1]]
        ks, ss = ks[lead], ss[lead]
        pos = np.minimum(np.searchsorted(ks, ekey), len(ks) - 1)
        table["first_saturation"] = np.where(ks[pos] == ekey, ss[pos], -1)
    return table, ekey


def _crosscheck(
    table: np.ndarray, ekey: np.ndarray, state: _PassState
) -> tuple[dict[str, int], dict[str, str]]:
    """Per-episode mismatch counts into ``table``; totals per category and the first example.

    ``cut_at_reset`` counts episodes, the other categories count steps.
    """
    k = len(table)
    per_cat = np.zeros((k, len(CATEGORIES)), np.int64)
    if state.cat_parts:
        keys = np.concatenate([p[0] for p in state.cat_parts])
        cats = np.concatenate([p[1] for p in state.cat_parts])
        counts = np.concatenate([p[2] for p in state.cat_parts])
        pos = np.minimum(np.searchsorted(ekey, keys), max(k - 1, 0))
        hit = (ekey[pos] == keys) if k else np.zeros(len(keys), bool)
        np.add.at(per_cat, (pos[hit], cats[hit]), counts[hit])
    step_cats = [i for i, c in enumerate(CATEGORIES) if c != "cut_at_reset"]
    table["mismatches"] = per_cat[:, step_cats].sum(axis=1)
    crosscheck = {c: int(per_cat[:, i].sum()) for i, c in enumerate(CATEGORIES)}
    crosscheck["cut_at_reset"] = int((per_cat[:, 0] > 0).sum())
    first = state.first
    examples = {c: _where(*first[c]) for c in first if crosscheck.get(c, 0) > 0}
    return crosscheck, examples


def _scan_obs(f: h5py.File, scan: RawScan, advance: object) -> None:
    """Count kept samples with non-finite obs, streaming full-width blocks of steps."""
    obs = f["obs"]
    n, t_total = scan.info.num_envs, scan.info.num_steps
    chunk_t = (obs.chunks or (1,))[0]
    tb = max(chunk_t, _OBS_BLOCK_BYTES // (n * OBS_DIM * obs.dtype.itemsize) // chunk_t * chunk_t)
    count, where = 0, ""
    for t0 in range(0, t_total, tb):
        x = obs[t0 : min(t0 + tb, t_total)]
        if advance is not None:
            advance(x.nbytes)
        bad = ~np.isfinite(x).all(axis=2)
        bad &= np.arange(t0, t0 + len(x))[:, None] < scan.keep_steps[None, :]
        if bad.any():
            count += int(bad.sum())
            if not where:
                bt, bn = np.unravel_index(np.argmax(bad), bad.shape)
                where = f"env {bn}, row {t0 + bt}"
    scan.nonfinite_rows, scan.first_nonfinite = count, where
