"""The checks of ``dataset stats`` on a :class:`~h1fault.data.summary.Summary`.

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
from dataclasses import dataclass

import numpy as np

from h1fault.data.scan import CATEGORIES, CATEGORY_TEXT
from h1fault.data.schema import OBS_DIM
from h1fault.data.summary import Summary
from h1fault.sim.model import JOINT_NAMES, MODEL_TO_ISAACLAB, NUM_JOINTS

P_THRESHOLD = 1e-3
"""Goodness-of-fit tests fail below this p-value (a false alarm in 1 of 1000 clean datasets)."""
MONTE_CARLO_DRAWS = 20_000
"""Draws for the small-sample p-value of the joint distribution."""


@dataclass
class Check:
    """One validation result."""

    name: str
    """Check name (see module docstring)."""
    status: str
    """``pass``, ``fail`` or ``skip``."""
    message: str
    """What was found, in words."""


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


def onset_window_steps(fc: dict, dt: float) -> tuple[int, int] | None:
    """The recorded onset window in steps [lo, hi), or None if not recorded."""
    win = fc.get("onset_window_s")
    if not win or len(win) != 2 or win[0] is None:
        return None
    lo = round(float(win[0]) / dt)
    return lo, max(lo + 1, round(float(win[1]) / dt))


def recorded_p_fault(fc: dict) -> float | None:
    """The fault probability the data was collected with (0 with faults off), or None."""
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

    p = recorded_p_fault(s.fault_config)
    win = onset_window_steps(s.fault_config, s.control_dt)
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
    win = onset_window_steps(fc, s.control_dt)
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


def _check_coverage(s: Summary) -> Check:
    if not s.source_num_envs:
        return Check("env_coverage", "skip", "env counts of the sources not recorded")
    missing = []
    ep = s.episodes
    for si, n_env in enumerate(s.source_num_envs):
        sel = (ep["source"] == si) & (ep["length"] > 0)
        have = set(np.unique(ep["env"][sel]).tolist())
        off = s.env_offset(si)
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
