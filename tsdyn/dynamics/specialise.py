"""Training until specialised: a stated rule for when a student has converged onto the teacher's nodes.

After the symmetric plateau (:mod:`tsdyn.dynamics.plateau`) the student nodes
specialise: each one turns towards one teacher node (Saad & Solla 1995; Goldt
et al. 2019), the structure the pruning paper's ansatz (A6) idealises. The rule
(:func:`rule_holds`), checked on a doubling grid of times t_j = t_0 2^j:

* *active* nodes are those with |v_i| >= ``v_min`` v*_max / Z (Z = K/M): a node
  whose second-layer weight has decayed to ~0 no longer moves (its w-gradient is
  proportional to v_i) and no longer contributes to the output, so it never
  aligns and cannot be asked to (on converged M = 2, K >= 12 students a third
  of the nodes are such dead nodes, |v_i| ~ 1e-3);
* at t_j every active node has cosine |R_in| / sqrt(Q_ii T_nn) >= ``cos_min``
  with its teacher node n(i), and every teacher node has an active node;
* the assignment (n(i), sign of R_in, which nodes are active) is the same at
  t_j and t_{j-1}: unchanged over the last doubling of t.

:func:`train_until_specialised` runs a trajectory in segments between the grid
times until the rule holds (and at least to ``t_min``) or the cap, and records
when. It takes the segment runner as a function, so it is tested on synthetic
states as well as on real runs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from tsdyn.checks import check_real
from tsdyn.order_parameters import OrderParameters
from tsdyn.trajectory import Trajectory

#: The rule's defaults: cosine of an aligned node, and an active node's |v_i| in units of v*/Z.
COS_MIN = 0.9
V_MIN = 0.1


@dataclass(frozen=True)
class Alignment:
    """Which teacher node each student node learnt, and how well.

    Attributes
    ----------
    teacher : (K,) n(i) = argmax_n |cos_in|.
    sign : (K,) sign of cos_{i n(i)}.
    cosine : (K,) |cos_{i n(i)}|.
    active : (K,) |v_i| >= v_min v*_max / Z.
    aligned : every active node has cosine >= cos_min and every teacher node an active node.
    """

    teacher: np.ndarray
    sign: np.ndarray
    cosine: np.ndarray
    active: np.ndarray
    aligned: bool

    def key(self) -> tuple:
        """The assignment the rule asks to be unchanged: (n(i), sign) of the active nodes, and which they are."""
        return (tuple(np.where(self.active, self.teacher, -1)), tuple(np.where(self.active, self.sign, 0)))


def alignment(op: OrderParameters, *, cos_min: float = COS_MIN, v_min: float = V_MIN) -> Alignment:
    """The :class:`Alignment` of a student (order parameters ``op``) under the rule's thresholds."""
    cos_min = check_real("cos_min", cos_min, low=0.0, high=1.0)
    v_min = check_real("v_min", v_min, low=0.0)
    norms = np.sqrt(np.outer(np.diag(op.Q), np.diag(op.T)))
    cos = np.divide(op.R, norms, out=np.zeros_like(op.R, dtype=float), where=norms > 0)
    teacher = np.argmax(np.abs(cos), axis=1)
    chosen = cos[np.arange(op.K), teacher]
    active = np.abs(op.v) >= v_min * float(np.max(np.abs(op.vstar))) * op.M / op.K
    covered = np.zeros(op.M, dtype=bool)
    covered[teacher[active]] = True
    aligned = bool(np.all(np.abs(chosen)[active] >= cos_min) and covered.all())
    return Alignment(teacher, np.where(chosen < 0, -1, 1), np.abs(chosen), active, aligned)


def rule_holds(previous: Alignment | None, current: Alignment) -> bool:
    """The rule at t_j: aligned now and at t_{j-1}, with the same assignment (module docstring)."""
    return bool(previous is not None and previous.aligned and current.aligned and previous.key() == current.key())


def checkpoints(t0: float, t_cap: float) -> np.ndarray:
    """The doubling grid t0, 2 t0, 4 t0, ... up to and including the last one <= t_cap."""
    t0 = check_real("t0", t0, low=0.0, low_open=True)
    t_cap = check_real("t_cap", t_cap, low=t0)
    n = int(np.floor(np.log2(t_cap / t0) + 1e-9))
    return t0 * 2.0 ** np.arange(n + 1)


def first_specialised(times: np.ndarray, states: list[OrderParameters], **thresholds) -> float:
    """First grid time at which :func:`rule_holds` (``states`` at the doubling grid ``times``); NaN if none."""
    previous = None
    for t, op in zip(times, states):
        current = alignment(op, **thresholds)
        if rule_holds(previous, current):
            return float(t)
        previous = current
    return float("nan")


@dataclass(frozen=True)
class SpecialisedRun:
    """A run trained in segments until the rule held (or the cap).

    Attributes
    ----------
    trajectory : every segment joined, on one time axis.
    t_stop : first checkpoint at which the rule held, else the last checkpoint run.
    met : whether the rule held by the cap.
    checkpoints : the checkpoints run; ``aligned`` and ``min_cosine`` (over active nodes) at each.
    """

    trajectory: Trajectory
    t_stop: float
    met: bool
    checkpoints: np.ndarray
    aligned: np.ndarray
    min_cosine: np.ndarray

    def index_at(self, t: float) -> int:
        """Record index of time ``t`` (a record time of the run)."""
        hits = np.flatnonzero(np.isclose(self.trajectory.times, t, rtol=0, atol=1e-9))
        if hits.size == 0:
            raise ValueError(f"t must be a record time of the run, got {t}")
        return int(hits[0])


Segment = Callable[[object, float, np.ndarray, int], Trajectory]


def train_until_specialised(segment: Segment, start, *, grid: np.ndarray, t_min: float = 0.0,
                            record_times: np.ndarray | None = None, **thresholds) -> SpecialisedRun:
    """Run ``segment`` between consecutive times of ``grid`` until the rule holds and t >= ``t_min``, or the grid ends.

    ``segment(state, t_from, times, index)`` continues from ``state`` (the start, then the
    previous segment's Trajectory) and returns a Trajectory recorded at ``times`` (relative
    to ``t_from``, ending at the next grid time; its first record is t = 0). ``record_times``
    (absolute) are the extra record times inside segments. ``thresholds``: ``cos_min``, ``v_min``.
    """
    grid = np.asarray(grid, dtype=float)
    record_times = np.array([]) if record_times is None else np.asarray(record_times, dtype=float)
    pieces, t_from, state, previous = [], 0.0, start, None
    t_stop, flags, mins = float("nan"), [], []
    for index, t_to in enumerate(grid):
        inside = record_times[(record_times > t_from) & (record_times < t_to)]
        traj = segment(state, t_from, np.concatenate([[0.0], inside - t_from, [t_to - t_from]]), index)
        pieces.append((t_from, traj))
        current = alignment(traj.final(), **thresholds)
        flags.append(current.aligned)
        mins.append(float(current.cosine[current.active].min()) if current.active.any() else 0.0)
        if np.isnan(t_stop) and rule_holds(previous, current):
            t_stop = float(t_to)
        previous, state, t_from = current, traj, float(t_to)
        if not np.isnan(t_stop) and t_to >= t_min:
            break
    met = not np.isnan(t_stop)
    run = grid[:len(flags)]
    return SpecialisedRun(join(pieces), t_stop if met else float(run[-1]), met, run, np.array(flags), np.array(mins))


def join(pieces: list[tuple[float, Trajectory]]) -> Trajectory:
    """Trajectories of consecutive segments ``(t_from, traj)`` as one: times shifted, repeated starts dropped."""
    first = pieces[0][1]
    parts = [(t0 + tr.times, tr.eg, tr.Q, tr.R, tr.v) if i == 0 else
             (t0 + tr.times[1:], tr.eg[1:], tr.Q[1:], tr.R[1:], tr.v[1:]) for i, (t0, tr) in enumerate(pieces)]
    times, eg, Q, R, v = (np.concatenate(x) for x in zip(*parts))
    return Trajectory(times=times, eg=eg, Q=Q, R=R, v=v, T=first.T, vstar=first.vstar, initial=first.initial,
                      success=all(tr.success for _, tr in pieces), message=pieces[-1][1].message,
                      info=dict(segments=len(pieces)))
