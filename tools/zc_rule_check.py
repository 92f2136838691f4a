"""Why is the specialisation rule of theorems_zc rarely met at large Z although eps_g is small? Writes
figures/theorems_zc_rule.csv (one row per run and checkpoint) and figures/theorems_zc_rule_summary.csv (per
run: the first checkpoint at which each rule variant holds); theorems_zc.md quotes the summary.

The runs are those of the full study (sims/full/theorems_zc.toml: M = 2, sigma = 0, seeds 0-4, order engine at
N = 500, eta = 0.5, the same segments and data seeds as the target), run to the cap t = 12 800 whatever the rule
says, for Z = 3, 5, 8, 10. At each checkpoint of the doubling grid 25 * 2^j: eps_g, the active nodes (|v_i| >=
0.1 v*/Z), the smallest cosine of an active node with its teacher node and that node's |v_i| in units of v*/Z,
the nodes within a factor 2 of the activity threshold, and whether the rule's assignment (teacher, sign, active
set) changed since the previous checkpoint and why (active set or teacher/sign of a node active at both).
Variants, all judged as the rule (aligned at t_j and t_{j-1}, assignment unchanged):
  ours      cos_min 0.9, v_min 0.1 (the target's);
  cos0.8    cos_min 0.8;
  vmin0.25  v_min 0.25 (small nodes do not count);
  vmass     active = the largest-|v| nodes that carry 95 % of sum |v_i| (a scale-free activity threshold).
Run: ``PYTHONPATH=$PWD python tools/zc_rule_check.py`` (about 2 CPU minutes).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from tsdyn.dynamics.specialise import Alignment, alignment, checkpoints
from tsdyn.outputs import write_rows
from tsdyn.seeds import SEGMENT_DATA_SEED_BASE
from tsdyn.simulate import simulate

N, M, LR, VSTAR, T_FIRST, T_CAP = 500, 2, 0.5, 4.0, 25.0, 12800.0


def run_to_cap(K: int, seed: int):
    """The target's segments (tsdyn.targets.theorems_zc.study) to the cap: the state at every checkpoint."""
    grid, states, state, t_from = checkpoints(T_FIRST, T_CAP), [], None, 0.0
    for index, t_to in enumerate(grid):
        common = dict(N=N, lr=LR, sigma=0.0, steps=int(round((t_to - t_from) * N)), times=[0.0, t_to - t_from],
                      engine="order")
        if index == 0:
            traj = simulate(M=M, K=K, vstar=VSTAR, seed=seed, **common)
        else:
            traj = simulate(start=state, seed=seed, data_seed=SEGMENT_DATA_SEED_BASE + 64 * seed + index, **common)
        states.append((float(t_to), float(traj.eg[-1]), traj.final()))
        state, t_from = traj, float(t_to)
    return states


def mass_alignment(op, cos_min: float = 0.9, share: float = 0.95) -> Alignment:
    """The rule's alignment with active = the largest-|v| nodes carrying ``share`` of sum |v_i|."""
    base = alignment(op, cos_min=cos_min, v_min=0.0)
    a = np.abs(op.v)
    order = np.argsort(a)[::-1]
    n = int(np.searchsorted(np.cumsum(a[order]) / a.sum(), share) + 1)
    active = np.zeros(op.K, dtype=bool)
    active[order[:n]] = True
    covered = np.zeros(op.M, dtype=bool)
    covered[base.teacher[active]] = True
    aligned = bool(np.all(base.cosine[active] >= cos_min) and covered.all())
    return Alignment(base.teacher, base.sign, base.cosine, active, aligned)


VARIANTS = {"ours": lambda op: alignment(op), "cos0.8": lambda op: alignment(op, cos_min=0.8),
            "vmin0.25": lambda op: alignment(op, v_min=0.25), "vmass": mass_alignment}


def first_hold(states, variant) -> float:
    previous = None
    for t, _, op in states:
        current = VARIANTS[variant](op)
        if previous is not None and previous.aligned and current.aligned and previous.key() == current.key():
            return t
        previous = current
    return float("nan")


def main(Zs=(3, 5, 8, 10), seeds=range(5)) -> None:
    rows, summary = [], []
    for Z in Zs:
        for seed in seeds:
            states = run_to_cap(M * Z, seed)
            previous = None
            for t, eg, op in states:
                a = alignment(op)
                scale = VSTAR / Z
                rel_v = np.abs(op.v) / scale
                act = np.flatnonzero(a.active)
                worst = act[np.argmin(a.cosine[act])] if act.size else -1
                reason = ""
                if previous is not None and previous.key() != a.key():
                    both = previous.active & a.active
                    moved = np.any((previous.teacher != a.teacher)[both] | (previous.sign != a.sign)[both])
                    reason = "teacher/sign" if moved else "active set"
                rows.append(dict(M=M, Z=Z, K=M * Z, seed=seed, t=t, eg=eg, active=int(a.active.sum()), aligned=a.aligned,
                                 min_cos_active=float(a.cosine[worst]) if worst >= 0 else float("nan"),
                                 worst_node_v=float(rel_v[worst]) if worst >= 0 else float("nan"),
                                 near_threshold=int(np.sum((rel_v >= 0.05) & (rel_v < 0.2))),
                                 unaligned_active=int(np.sum(a.cosine[act] < 0.9)),
                                 unaligned_v=" ".join(f"{x:.3g}" for x in rel_v[act][a.cosine[act] < 0.9]),
                                 key_change=reason))
                previous = a
            summary.append(dict(M=M, Z=Z, K=M * Z, seed=seed, eg_cap=states[-1][1],
                                **{f"t_{v}": first_hold(states, v) for v in VARIANTS}))
            print(summary[-1], flush=True)
    out = Path(__file__).resolve().parents[1] / "figures"
    write_rows(rows, out / "theorems_zc_rule.csv")
    write_rows(summary, out / "theorems_zc_rule_summary.csv")


if __name__ == "__main__":
    main(*(tuple(int(z) for z in sys.argv[1].split(",")),) if len(sys.argv) > 1 else ())
