"""``dataset stats``: describe a built dataset (or a raw file) and validate it against the fault
distribution recorded in its attrs.

Checks (each passes, fails or is skipped with a reason; any failure means exit code 1):

- ``finite_obs``: every kept observation is finite (streamed in chunks; the width is checked
  when the file is opened).
- ``candidates_only``: no joint outside the configured candidates is ever faulted.
- ``one_fault_per_episode``: at most one fault event per episode.
- ``labels_match_logged_faults``: the labels derived from the event table agree with the
  per-step fault state collect logged (nothing still cut after a reset, no cut without an event,
  no event without a cut, the same joint, torque limit and saturation flags consistent).
- ``labels_match_episodes`` (built datasets): the ``label`` array is what the episode table
  says (``-1`` before the onset, the joint after).
- ``env_coverage``: every env of every source contributes samples.
- ``joint_distribution``: the fault joints of the faulted episodes are uniform over the
  candidates: chi-square goodness of fit (``scipy.stats.chisquare``; a Monte Carlo p-value of
  the same statistic when fewer than 5 episodes per joint are expected); fails when
  p < :data:`P_THRESHOLD`.
- ``all_candidates_present``: every candidate joint is faulted at least once, required once the
  chance that uniform sampling misses some joint, ``c * (1 - 1/c)^n``, is below the threshold.
- ``fault_rate``: the number of faulted episodes agrees with ``p_fault`` given that a fault is
  only seen if the episode lasts past its onset (normal approximation of the Poisson-binomial).
- ``fault_parameters``: onset steps inside the onset window, scales inside the scale range.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from h1fault.console import byte_progress
from h1fault.data.h5io import (
    check_dataset_layout,
    file_format,
    fill_episode_defaults,
    json_attr,
    open_h5,
    read_error_text,
    read_raw_info,
)
from h1fault.data.scan import CATEGORIES, CATEGORY_TEXT, FLAG_BYTES, scan_raw
from h1fault.data.schema import DATASET_FORMAT, OBS_DIM, RAW_FORMAT, SPLIT_NAMES
from h1fault.errors import H1FaultError
from h1fault.sim.model import JOINT_NAMES, MODEL_TO_ISAACLAB, NUM_JOINTS

P_THRESHOLD = 1e-3
"""Goodness-of-fit tests fail below this p-value (a false alarm in 1 of 1000 clean datasets)."""
MONTE_CARLO_DRAWS = 20_000
"""Draws for the small-sample p-value of the joint distribution."""
_ROWS_PER_CHUNK = 1 << 18


@dataclass
class Check:
    """One validation result."""

    name: str
    """Check name (see module docstring)."""
    status: str
    """``pass``, ``fail`` or ``skip``."""
    message: str
    """What was found, in words."""


@dataclass
class Summary:
    """Everything the checks and the report need about one file."""

    path: Path
    """The file."""
    kind: str
    """``dataset`` or ``raw``."""
    num_samples: int
    """M, kept samples."""
    episodes: np.ndarray
    """(K,) episode table (:data:`~h1fault.data.schema.EPISODE_DTYPE`)."""
    label_counts: np.ndarray
    """(19,) int64 samples labelled with each joint."""
    healthy_samples: int
    """Samples labelled -1."""
    joint_names: list[str]
    """Model order."""
    candidate_joints: list[int]
    """Model indices the fault model may pick."""
    fault_config: dict
    """Recorded fault distribution ({} if unknown)."""
    control_dt: float
    """Seconds per step."""
    sources: list[str]
    """Raw files (one for a raw file)."""
    source_num_envs: list[int]
    """Envs per source ([] if unknown)."""
    source_env_offsets: list[int] = field(default_factory=list)
    """Global id of each source's env 0 (torchrun shards); [] means all 0."""
    obs_dtype: str = "float32"
    """Stored obs dtype."""
    nonfinite_rows: int = -1
    """Samples with non-finite obs (-1: not checked)."""
    first_nonfinite: str = ""
    """Where the first one is."""
    saturated_samples: int = -1
    """Samples flagged saturated (-1: not counted)."""
    label_table_mismatch: int = -1
    """Samples whose label disagrees with the episode table (-1: not checked)."""
    label_table_example: str = ""
    """Where the first one is."""
    crosscheck: dict[str, int] | None = None
    """Cross-check totals (None: unknown)."""
    crosscheck_examples: dict[str, Any] = field(default_factory=dict)
    """Where each category happens first."""
    derived_fault_state: bool = False
    """Per-step fault state was derived from events (legacy import)."""
    dropped_episodes: int = 0
    """Unfinished episodes dropped."""


# -- summaries ------------------------------------------------------------------------------------


def labels_from_episodes(episodes: np.ndarray) -> tuple[np.ndarray, int]:
    """Per-joint sample counts implied by an episode table. Returns ((19,) counts, healthy)."""
    counts = np.zeros(NUM_JOINTS, np.int64)
    faulted = episodes["fault_joint"] >= 0
    n_fault = (episodes["length"][faulted] - episodes["onset"][faulted]).astype(np.int64)
    np.add.at(counts, episodes["fault_joint"][faulted].astype(np.int64), np.maximum(n_fault, 0))
    total = int(episodes["length"].astype(np.int64).sum())
    return counts, total - int(counts.sum())


def summarize(
    path: str | Path, allow_partial: bool = False, read_arrays: bool = True, progress: bool = False
) -> Summary:
    """Summarise a built dataset or a raw file (detected from its ``format`` attr).

    read_arrays: stream obs/label/saturated of a dataset (finite and label checks); without it
    only the episode table and attrs are read (what ``build`` uses for its warnings).
    """
    path = Path(path)
    f = open_h5(path)
    try:
        fmt = file_format(f)
        if fmt == RAW_FORMAT:
            return _summarize_raw(f, path, allow_partial, progress)
        if fmt == DATASET_FORMAT:
            return _summarize_dataset(f, path, read_arrays, progress)
        raise H1FaultError(f"{path} is neither an h1fault dataset nor a raw file (format {fmt!r})")
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        raise H1FaultError(f"cannot read {path} (corrupt file?): {read_error_text(exc)}") from exc
    finally:
        f.close()


def _summarize_raw(f: Any, path: Path, allow_partial: bool, progress: bool) -> Summary:
    info = read_raw_info(f, path)
    total = info.num_steps * info.num_envs * (FLAG_BYTES + OBS_DIM * info.obs_dtype.itemsize)
    with byte_progress("stats", total, progress) as advance:
        scan = scan_raw(f, info, allow_partial=allow_partial, check_obs=True, advance=advance)
    counts, healthy = labels_from_episodes(scan.episodes)
    return Summary(
        path=path, kind="raw", num_samples=scan.num_samples, episodes=scan.episodes,
        label_counts=counts, healthy_samples=healthy, joint_names=info.joint_names,
        candidate_joints=info.candidate_joints, fault_config=info.fault_config,
        control_dt=info.control_dt, sources=[str(path)], source_num_envs=[info.num_envs],
        obs_dtype=str(info.obs_dtype), nonfinite_rows=scan.nonfinite_rows,
        first_nonfinite=scan.first_nonfinite, crosscheck=scan.crosscheck,
        crosscheck_examples=scan.examples, derived_fault_state=info.derived_fault_state,
        dropped_episodes=scan.dropped_episodes,
    )  # fmt: skip


def _summarize_dataset(f: Any, path: Path, read_arrays: bool, progress: bool) -> Summary:
    m = check_dataset_layout(f, path)
    episodes = fill_episode_defaults(f["episodes"][()])
    order = np.argsort(episodes["start"], kind="stable")
    episodes = episodes[order]
    cc = json_attr(f, "crosscheck", path, None)
    s = Summary(
        path=path, kind="dataset", num_samples=m, episodes=episodes,
        label_counts=np.zeros(NUM_JOINTS, np.int64), healthy_samples=0,
        joint_names=list(json_attr(f, "joint_names", path, list(JOINT_NAMES))),
        candidate_joints=[int(j) for j in json_attr(f, "candidate_joints", path)],
        fault_config=dict(json_attr(f, "fault_config", path, {})),
        control_dt=float(f.attrs.get("control_dt", 0.02)),
        sources=[str(x) for x in json_attr(f, "sources", path, [])],
        source_num_envs=[int(x) for x in json_attr(f, "source_num_envs", path, [])],
        source_env_offsets=[int(x) for x in json_attr(f, "source_env_offsets", path, [])],
        obs_dtype=str(f["obs"].dtype),
        crosscheck=cc.get("totals") if isinstance(cc, dict) else None,
        crosscheck_examples=cc.get("examples", {}) if isinstance(cc, dict) else {},
        derived_fault_state=bool(f.attrs.get("derived_fault_state", False)),
        dropped_episodes=int(f.attrs.get("dropped_episodes", 0)),
    )  # fmt: skip
    if not read_arrays:
        s.label_counts, s.healthy_samples = labels_from_episodes(episodes)
        return s
    starts = episodes["start"].astype(np.int64)
    ends = starts + episodes["length"].astype(np.int64)
    joint = episodes["fault_joint"].astype(np.int64)
    onset = episodes["onset"].astype(np.int64)
    counts = np.zeros(NUM_JOINTS + 2, np.int64)
    nonfinite = mismatch = saturated = 0
    first_bad = first_mis = ""
    obs, lab_ds, sat_ds = f["obs"], f["label"], f["saturated"]
    with byte_progress("stats", m * obs.dtype.itemsize * OBS_DIM, progress) as advance:
        for r0 in range(0, m, _ROWS_PER_CHUNK):
            r1 = min(r0 + _ROWS_PER_CHUNK, m)
            x = obs[r0:r1]
            advance(x.nbytes)
            lab = lab_ds[r0:r1].astype(np.int64)
            sat = sat_ds[r0:r1]
            bad = ~np.isfinite(x).all(axis=1)
            if bad.any():
                nonfinite += int(bad.sum())
                first_bad = first_bad or _where_sample(r0 + int(np.argmax(bad)), s, starts)
            # bins: joints, then healthy (-1), then out-of-range labels
            bins = np.where(lab == -1, NUM_JOINTS, np.where((lab >= 0) & (lab < NUM_JOINTS), lab,
                                                            NUM_JOINTS + 1))  # fmt: skip
            counts += np.bincount(bins, minlength=NUM_JOINTS + 2)
            saturated += int(sat.sum())
            rows = np.arange(r0, r1, dtype=np.int64)
            e = np.maximum(np.searchsorted(starts, rows, side="right") - 1, 0)
            inside = (rows >= starts[e]) & (rows < ends[e]) if len(starts) else rows < -1
            expected = np.where(inside & (joint[e] >= 0) & (rows - starts[e] >= onset[e]),
                                joint[e], -1)  # fmt: skip
            wrong = ~inside | (lab != expected)
            if wrong.any():
                mismatch += int(wrong.sum())
                first_mis = first_mis or _where_sample(r0 + int(np.argmax(wrong)), s, starts)
    s.label_counts = counts[:NUM_JOINTS]
    s.healthy_samples = int(counts[NUM_JOINTS])
    s.nonfinite_rows, s.first_nonfinite = nonfinite, first_bad
    s.label_table_mismatch, s.label_table_example = mismatch, first_mis
    s.saturated_samples = saturated
    return s


def _where_sample(row: int, s: Summary, starts: np.ndarray) -> str:
    if not len(starts):
        return f"sample {row}"
    i = max(int(np.searchsorted(starts, row, side="right")) - 1, 0)
    ep = s.episodes[i]
    src = s.sources[ep["source"]] if 0 <= ep["source"] < len(s.sources) else "?"
    return (f"sample {row}: {src} env {ep['env']}, episode {ep['episode']}, "
            f"step {row - int(ep['start'])}")  # fmt: skip


# -- checks ---------------------------------------------------------------------------------------


def joint_label(j: int, names: list[str] | tuple[str, ...] = JOINT_NAMES) -> str:
    """``right_knee (model 8, Isaac Lab 12)``: a joint in both orders."""
    name = names[j] if 0 <= j < len(names) else f"joint {j}"
    il = int(MODEL_TO_ISAACLAB[j]) if 0 <= j < NUM_JOINTS else -1
    return f"{name} (model {j}, Isaac Lab {il})"


def _p(p: float) -> str:
    return "p<1e-300" if p == 0 else f"p={p:.2g}"


def _n(k: int, noun: str) -> str:
    return f"{k:,} {noun}{'' if k == 1 else 's'}"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def check_joint_distribution(
    episode_counts: np.ndarray,
    sample_counts: np.ndarray,
    candidates: list[int],
    total_samples: int,
    threshold: float = P_THRESHOLD,
    names: list[str] | tuple[str, ...] = JOINT_NAMES,
    seed: int = 0,
) -> list[Check]:
    """``joint_distribution`` and ``all_candidates_present`` from per-joint counts.

    episode_counts, sample_counts: (19,) faulted episodes / labelled samples per model joint.
    """
    from scipy import stats as sps

    cand = np.asarray(candidates, np.int64)
    obs = np.asarray(episode_counts, np.int64)[cand]
    n, c = int(obs.sum()), len(cand)
    if n == 0:
        skip = "no faulted episodes"
        return [Check("joint_distribution", "skip", skip), Check("all_candidates_present",
                                                                  "skip", skip)]  # fmt: skip
    expected = n / c
    if c == 1:
        p = 1.0
        how = "one candidate"
    elif expected >= 5:
        p = float(sps.chisquare(obs).pvalue)
        how = "chi-square"
    else:
        stat = float(((obs - expected) ** 2).sum() / expected)
        sims = np.random.default_rng(seed).multinomial(n, np.full(c, 1.0 / c), MONTE_CARLO_DRAWS)
        sim_stat = ((sims - expected) ** 2).sum(axis=1) / expected
        p = float((1 + (sim_stat >= stat - 1e-9).sum()) / (1 + MONTE_CARLO_DRAWS))
        how = f"chi-square statistic, Monte Carlo p over {MONTE_CARLO_DRAWS:,} draws"
    absent = [int(j) for j, k in zip(cand, obs, strict=True) if k == 0]
    samples = np.asarray(sample_counts, np.int64)
    desc = (f"{n:,} faulted episodes over {c} candidate joints "
            f"(expected {expected:,.1f} each, {_pct(1 / c)})")  # fmt: skip
    checks = []
    if p < threshold:
        z = (obs - expected) / math.sqrt(expected)
        top = [int(cand[i]) for i in np.argsort(-z)[:3] if z[i] > 0]
        parts = [
            f"{joint_label(j, names)} has {int(episode_counts[j]):,} of {n:,} faulted episodes "
            f"({_pct(episode_counts[j] / n)}, expected {_pct(1 / c)}) and "
            f"{int(samples[j]):,} of {total_samples:,} samples ({_pct(samples[j] / max(total_samples, 1))})"  # noqa: E501
            for j in top[:2]
        ]
        if absent:
            parts.append(f"{len(absent)} candidate joint{'s' if len(absent) > 1 else ''} never "
                         "faulted")  # fmt: skip
        checks.append(Check(
            "joint_distribution", "fail",
            f"fault joints are not uniform over the {c} candidates ({how} {_p(p)}, threshold "
            f"{threshold:g}): " + "; ".join(parts),
        ))  # fmt: skip
    else:
        checks.append(
            Check("joint_distribution", "pass", f"{desc}; {how} p={p:.3g} >= {threshold:g}")
        )
    miss_chance = min(1.0, c * (1 - 1 / c) ** n) if c > 1 else 0.0  # union bound: cap at 1
    if absent and miss_chance < threshold:
        listed = ", ".join(joint_label(j, names) for j in absent[:6])
        more = f" and {len(absent) - 6} more" if len(absent) > 6 else ""
        checks.append(Check(
            "all_candidates_present", "fail",
            f"{len(absent)} of {c} candidate joints never faulted in {n:,} faulted episodes "
            f"(expected ~{expected:,.0f} each; chance of a miss {miss_chance:.1g}): {listed}{more}",
        ))  # fmt: skip
    elif absent:
        checks.append(Check(
            "all_candidates_present", "skip",
            f"{len(absent)} candidates absent, but {n} faulted episodes are too few to require "
            f"all {c} (chance of a miss {miss_chance:.2g} >= {threshold:g})",
        ))  # fmt: skip
    else:
        checks.append(Check("all_candidates_present", "pass", f"all {c} candidate joints faulted"))
    return checks


def _onset_window_steps(fc: dict, dt: float) -> tuple[int, int] | None:
    win = fc.get("onset_window_s")
    if not win or len(win) != 2 or win[0] is None:
        return None
    lo = round(float(win[0]) / dt)
    return lo, max(lo + 1, round(float(win[1]) / dt))


def _p_fault(fc: dict) -> float | None:
    if "p_fault_effective" in fc and fc["p_fault_effective"] is not None:
        return float(fc["p_fault_effective"])
    if fc.get("p_fault") is None:
        return None
    return float(fc["p_fault"]) if fc.get("enabled", True) else 0.0


def expected_fault_samples(lengths: np.ndarray, p: float, lo: int, hi: int) -> np.ndarray:
    """Expected faulted samples per episode: ``p * E[max(L - U, 0)]``, U uniform in [lo, hi)."""
    length = lengths.astype(np.float64)
    m = np.minimum(hi - 1, length - 1)
    cnt = np.maximum(m - lo + 1, 0)
    total = cnt * length - (lo + m) * cnt / 2
    return p * np.where(cnt > 0, total, 0.0) / (hi - lo)


def check_fault_rate(s: Summary, threshold: float = P_THRESHOLD) -> Check:
    """Faulted episodes vs ``p_fault`` x P(the episode reaches its onset)."""
    from scipy import stats as sps

    p = _p_fault(s.fault_config)
    win = _onset_window_steps(s.fault_config, s.control_dt)
    if p is None or win is None:
        return Check("fault_rate", "skip", "p_fault or onset window not recorded")
    lo, hi = win
    # A fault makes a fall more likely, so an episode's length depends on its own fault and
    # p_fault x P(onset < length) is biased. Before its onset a planned fault changes nothing,
    # so count with the onset hazard instead: at step s in [lo, hi) an episode that is still
    # running and not yet faulted gets its onset with h(s) = (p/W) / (1 - p (s - lo)/W). The
    # expected number of onsets is the sum of h over every such episode-step (the compensator
    # of the onset count); it needs no assumption about what happens after an onset.
    w = hi - lo
    steps = np.arange(w, dtype=np.float64)
    hazard = (p / w) / np.maximum(1.0 - p * steps / w, 1e-12)
    cum_h = np.concatenate([[0.0], np.cumsum(hazard)])
    cum_v = np.concatenate([[0.0], np.cumsum(hazard * (1.0 - hazard))])
    lengths = s.episodes["length"].astype(np.int64)
    faulted = s.episodes["fault_joint"] >= 0
    last = np.where(faulted, s.episodes["onset"].astype(np.int64), lengths - 1)
    at_risk = np.clip(np.minimum(last, hi - 1) - lo + 1, 0, w)  # steps at risk per episode
    mu, var = float(cum_h[at_risk].sum()), float(cum_v[at_risk].sum())
    x = int(faulted.sum())
    k = len(lengths)
    text = (f"{x:,} of {k:,} episodes faulted, expected {mu:,.1f} (p_fault {p:g}, onsets in"
            f" [{lo}, {hi}) steps, over the steps each episode ran before its onset)")  # fmt: skip
    if var <= 0:
        ok = abs(x - mu) < 0.5
        pval = 1.0 if ok else 0.0
    else:
        z = max(abs(x - mu) - 0.5, 0.0) / math.sqrt(var)
        pval = float(2 * sps.norm.sf(z))
    if pval < threshold:
        return Check("fault_rate", "fail", f"{text}; {_p(pval)}, threshold {threshold:g}")
    return Check("fault_rate", "pass", f"{text}; p={pval:.3g}")


def check_fault_parameters(s: Summary) -> Check:
    """Onsets inside the window and scales inside the range."""
    fc = s.fault_config
    win = _onset_window_steps(fc, s.control_dt)
    sr = fc.get("scale_range")
    ep = s.episodes[s.episodes["fault_joint"] >= 0]
    if win is None and not sr:
        return Check("fault_parameters", "skip", "onset window and scale range not recorded")
    problems = []
    if win is not None and len(ep):
        bad = (ep["onset"] < win[0]) | (ep["onset"] >= win[1])
        if bad.any():
            problems.append(f"{int(bad.sum())} onsets outside steps [{win[0]}, {win[1]})")
    if sr and sr[0] is not None and len(ep):
        sc = ep["scale"]
        bad = ~((sc >= sr[0] - 1e-6) & (sc <= sr[1] + 1e-6))
        if bad.any():
            problems.append(f"{int(bad.sum())} scales outside [{sr[0]:g}, {sr[1]:g}]")
    if problems:
        return Check("fault_parameters", "fail", "; ".join(problems))
    return Check("fault_parameters", "pass", f"{len(ep):,} faults inside the configured ranges")


def run_checks(s: Summary, threshold: float = P_THRESHOLD) -> list[Check]:
    """All checks on a summary (see module docstring)."""
    checks: list[Check] = []
    ep = s.episodes
    names = s.joint_names or list(JOINT_NAMES)
    # finite obs
    if s.nonfinite_rows < 0:
        checks.append(Check("finite_obs", "skip", "obs not read"))
    elif s.nonfinite_rows:
        checks.append(Check("finite_obs", "fail",
                            f"{s.nonfinite_rows:,} samples have non-finite obs (first: "
                            f"{s.first_nonfinite})"))  # fmt: skip
    else:
        checks.append(Check("finite_obs", "pass", f"{s.num_samples:,} samples x {OBS_DIM} finite"))
    # candidates only
    cand = set(s.candidate_joints)
    faulted = ep["fault_joint"][ep["fault_joint"] >= 0].astype(np.int64)
    ep_counts = np.bincount(faulted, minlength=NUM_JOINTS)[:NUM_JOINTS]
    outside = [j for j in range(NUM_JOINTS)
               if j not in cand and (ep_counts[j] or s.label_counts[j])]  # fmt: skip
    if outside:
        parts = [f"{joint_label(j, names)} in {int(ep_counts[j]):,} episodes / "
                 f"{int(s.label_counts[j]):,} samples" for j in outside]  # fmt: skip
        checks.append(Check("candidates_only", "fail",
                            "non-candidate joints faulted: " + "; ".join(parts)))  # fmt: skip
    else:
        checks.append(Check("candidates_only", "pass", f"only the {len(cand)} candidates faulted"))
    # one fault per episode
    ne = ep["num_events"]
    if len(ep) and (ne < 0).all():
        checks.append(Check("one_fault_per_episode", "skip", "event counts not recorded"))
    elif (ne > 1).any():
        i = int(np.argmax(ne > 1))
        checks.append(Check("one_fault_per_episode", "fail",
                            f"{_n(int((ne > 1).sum()), 'episode')} with more than one fault (up to "
                            f"{int(ne.max())}; first: {_episode_words(s, i)})"))  # fmt: skip
    else:
        checks.append(Check("one_fault_per_episode", "pass", "at most one fault per episode"))
    checks.append(_check_crosscheck(s))
    if s.kind == "dataset":
        if s.label_table_mismatch < 0:
            checks.append(Check("labels_match_episodes", "skip", "labels not read"))
        elif s.label_table_mismatch:
            checks.append(Check("labels_match_episodes", "fail",
                                f"{s.label_table_mismatch:,} samples have a label the episode "
                                "table contradicts (first: "
                                f"{s.label_table_example})"))  # fmt: skip
        else:
            checks.append(Check("labels_match_episodes", "pass",
                                "labels follow the episode table"))  # fmt: skip
    checks.append(_check_coverage(s))
    checks += check_joint_distribution(ep_counts, s.label_counts, sorted(cand), s.num_samples,
                                       threshold, names)  # fmt: skip
    checks.append(check_fault_rate(s, threshold))
    checks.append(check_fault_parameters(s))
    return checks


def _episode_words(s: Summary, i: int) -> str:
    e = s.episodes[i]
    src = s.sources[e["source"]] if 0 <= e["source"] < len(s.sources) else str(s.path)
    return f"{src} env {e['env']} episode {e['episode']}"


def _check_crosscheck(s: Summary) -> Check:
    name = "labels_match_logged_faults"
    if s.derived_fault_state:
        return Check(name, "skip", "per-step fault state was derived from the events (legacy "
                     "import); nothing independent to compare")  # fmt: skip
    if s.crosscheck is None:
        return Check(name, "skip", "no cross-check recorded")
    parts = []
    for cat in CATEGORIES:
        k = s.crosscheck.get(cat, 0)
        if k:
            where = _first_example(s.crosscheck_examples, cat)
            parts.append(f"{k:,} {CATEGORY_TEXT[cat]}" + (f" (first: {where})" if where else ""))
    if parts:
        return Check(name, "fail", "logged fault state disagrees with the events: " +
                     "; ".join(parts))  # fmt: skip
    return Check(name, "pass", "per-step fault state matches the event table")


def _first_example(examples: dict, cat: str) -> str:
    if cat in examples and isinstance(examples[cat], str):
        return examples[cat]
    for src, ex in examples.items():
        if isinstance(ex, dict) and cat in ex:
            return f"{src} {ex[cat]}"
    return ""


def _env_offset(s: Summary, source: int) -> int:
    offs = s.source_env_offsets
    return offs[source] if source < len(offs) else 0


def _check_coverage(s: Summary) -> Check:
    if not s.source_num_envs:
        return Check("env_coverage", "skip", "env counts of the sources not recorded")
    missing = []
    ep = s.episodes
    for si, n_env in enumerate(s.source_num_envs):
        sel = (ep["source"] == si) & (ep["length"] > 0)
        have = set(np.unique(ep["env"][sel]).tolist())
        off = _env_offset(s, si)
        miss = [e for e in range(off, off + n_env) if e not in have]
        if miss:
            src = s.sources[si] if si < len(s.sources) else f"source {si}"
            listed = ", ".join(str(e) for e in miss[:8]) + (" ..." if len(miss) > 8 else "")
            missing.append(f"{src}: env{'s' if len(miss) > 1 else ''} {listed} contribute"
                           f"{'' if len(miss) > 1 else 's'} no samples ({len(miss)} of "
                           f"{n_env} envs missing)")  # fmt: skip
    if missing:
        return Check("env_coverage", "fail", "; ".join(missing))
    return Check("env_coverage", "pass",
                 f"all {sum(s.source_num_envs):,} envs contribute samples")  # fmt: skip


# -- the report -----------------------------------------------------------------------------------


def report(s: Summary, checks: list[Check], threshold: float = P_THRESHOLD) -> dict[str, Any]:
    """Machine-readable report (what ``--json`` prints)."""
    ep = s.episodes
    m = max(s.num_samples, 1)
    names = s.joint_names or list(JOINT_NAMES)
    cand = set(s.candidate_joints)
    faulted = ep["fault_joint"] >= 0
    ep_counts = np.bincount(ep["fault_joint"][faulted].astype(np.int64), minlength=NUM_JOINTS)
    n_faulted = int(faulted.sum())
    p = _p_fault(s.fault_config)
    win = _onset_window_steps(s.fault_config, s.control_dt)
    if p is not None and win is not None:
        exp_faulted = float(expected_fault_samples(ep["length"], p, *win).sum())
        basis = "fault model"
    else:
        exp_faulted = float(s.label_counts.sum())
        basis = "observed faulted share, uniform over candidates"
    joints = []
    for j in range(NUM_JOINTS):
        if j not in cand and not ep_counts[j] and not s.label_counts[j]:
            continue
        joints.append({
            "model_index": j, "isaaclab_index": int(MODEL_TO_ISAACLAB[j]), "name": names[j],
            "candidate": j in cand, "episodes": int(ep_counts[j]),
            "episode_share": float(ep_counts[j] / n_faulted) if n_faulted else 0.0,
            "samples": int(s.label_counts[j]), "share": float(s.label_counts[j] / m),
            "expected_share": float(exp_faulted / len(cand) / m) if j in cand and cand else 0.0,
        })  # fmt: skip
    lengths = ep["length"].astype(np.int64)
    length = {"episodes": len(ep)}
    if len(ep):
        length.update({
            "min": int(lengths.min()), "median": float(np.median(lengths)),
            "mean": float(lengths.mean()), "max": int(lengths.max()),
            "mean_s": float(lengths.mean() * s.control_dt),
            "terminated": int(ep["terminated"].sum()),
            "timed_out": int((ep["ended"] & ~ep["terminated"]).sum()),
            "cut_by_end_of_collection": int((~ep["ended"]).sum()),
        })  # fmt: skip
    coverage = []
    for si, src in enumerate(s.sources):
        sel = ep["source"] == si
        n_env = s.source_num_envs[si] if si < len(s.source_num_envs) else None
        per_env = np.bincount(ep["env"][sel].astype(np.int64) - _env_offset(s, si),
                              weights=lengths[sel],
                              minlength=n_env or 0)  # fmt: skip
        coverage.append({
            "source": src, "num_envs": n_env, "envs_with_samples": int((per_env > 0).sum()),
            "samples_per_env": {"min": int(per_env.min()) if len(per_env) else 0,
                                "median": float(np.median(per_env)) if len(per_env) else 0.0,
                                "max": int(per_env.max()) if len(per_env) else 0},
            "missing_envs": [int(e) for e in np.flatnonzero(per_env == 0)[:50]],
        })  # fmt: skip
    out: dict[str, Any] = {
        "path": str(s.path), "kind": s.kind, "samples": s.num_samples, "episodes": len(ep),
        "faulted_episodes": n_faulted, "obs_dtype": s.obs_dtype,
        "candidate_joints": sorted(cand),
        "healthy": {"samples": s.healthy_samples, "share": s.healthy_samples / m,
                    "expected_share": 1.0 - exp_faulted / m},
        "expected_basis": basis,
        "saturated_samples": s.saturated_samples,
        "joints": joints, "episode_length": length, "coverage": coverage,
        "crosscheck": s.crosscheck, "dropped_episodes": s.dropped_episodes,
        "threshold": threshold,
        "checks": [asdict(c) for c in checks],
        "ok": not any(c.status == "fail" for c in checks),
    }  # fmt: skip
    if s.kind == "dataset" and "split" in (ep.dtype.names or ()):
        out["splits"] = {name: {"episodes": int((ep["split"] == i).sum()),
                                "samples": int(lengths[ep["split"] == i].sum())}
                         for i, name in enumerate(SPLIT_NAMES)}  # fmt: skip
    return out


def dataset_stats(
    path: str | Path,
    allow_partial: bool = False,
    threshold: float = P_THRESHOLD,
    progress: bool = False,
) -> dict[str, Any]:
    """Summarise, check and report one file (the ``dataset stats`` command without printing)."""
    s = summarize(path, allow_partial=allow_partial, progress=progress)
    return report(s, run_checks(s, threshold), threshold)


def quick_warnings(path: str | Path) -> list[str]:
    """Failed checks of a freshly built dataset, from its episode table only (no obs read)."""
    s = summarize(path, read_arrays=False)
    return [f"{c.name}: {c.message}" for c in run_checks(s) if c.status == "fail"]


def failed_summary(rep: dict[str, Any]) -> str:
    """One line naming the failed checks (the CLI's error message)."""
    failed = [c for c in rep["checks"] if c["status"] == "fail"]
    first = failed[0]
    more = f" (and {', '.join(c['name'] for c in failed[1:])})" if len(failed) > 1 else ""
    return f"check '{first['name']}' failed: {first['message']}{more}"


def plot_report(rep: dict[str, Any], out: str | Path) -> Path:
    """Bar chart of per-joint fault episodes (vs expected) and sample shares, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    joints = rep["joints"]
    labels = [f"{j['name']}\n({j['model_index']}/IL{j['isaaclab_index']})" for j in joints]
    x = np.arange(len(joints))
    n_faulted = max(rep["faulted_episodes"], 1)
    n_cand = max(len(rep["candidate_joints"]), 1)
    fig, axes = plt.subplots(2, 1, figsize=(max(8, 0.6 * len(joints) + 3), 8))
    colors = ["tab:blue" if j["candidate"] else "tab:red" for j in joints]
    axes[0].bar(x, [j["episodes"] for j in joints], color=colors)
    axes[0].axhline(n_faulted / n_cand, color="k", ls="--", lw=1, label="expected (uniform)")
    axes[0].set_ylabel("faulted episodes")
    axes[0].legend()
    share = [j["share"] for j in joints] + [rep["healthy"]["share"]]
    exp = [j["expected_share"] for j in joints] + [rep["healthy"]["expected_share"]]
    x2 = np.arange(len(share))
    axes[1].bar(x2 - 0.2, share, 0.4, label="observed", color=colors + ["tab:green"])
    axes[1].bar(x2 + 0.2, exp, 0.4, label="expected", color="lightgray")
    axes[1].set_ylabel("share of samples")
    axes[1].legend()
    for ax, xs, lab in ((axes[0], x, labels), (axes[1], x2, [*labels, "healthy"])):
        ax.set_xticks(xs)
        ax.set_xticklabels(lab, rotation=60, ha="right", fontsize=7)
    failed = [c["name"] for c in rep["checks"] if c["status"] == "fail"]
    title = f"{Path(rep['path']).name}: {rep['samples']:,} samples, {rep['episodes']:,} episodes"
    fig.suptitle(title + ("\nFAILED: " + ", ".join(failed) if failed else "\nall checks pass"),
                 color="red" if failed else "black")  # fmt: skip
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
