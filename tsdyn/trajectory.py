"""The result object shared by the simulator and the ODE integrator.

Like :class:`scipy.integrate.OdeResult`, a :class:`Trajectory` carries the
record times, the state at each of them and how the run ended, so that a
simulation and the theory started from the same point overlay directly.

File formats
------------
``PREFIX.csv``
    one row per record time: ``t,eg`` (+ ``test_mse`` when measured), then the
    order parameters flattened as ``Q_i_k`` (upper triangle), ``R_i_n``, ``v_i``
    when asked for.
``PREFIX.npz``
    ``Q, R, T, v, vstar``: the final state; ``Q0, R0, v0``: the initial state;
    ``times, eg, Q_t, R_t, v_t`` (+ ``test_mse``): the history; ``w, wstar``:
    the final weights when the run has them (simulations); ``success, message,
    info``: how the run ended. The same arrays are the sweep cache's entry of a
    run (:meth:`Trajectory.to_arrays` / :meth:`Trajectory.from_arrays`).
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tsdyn.atomic import atomic_open
from tsdyn.checks import check_int, check_real
from tsdyn.conventions import DEFAULT_PER_DECADE
from tsdyn.order_parameters import OrderParameters


def record_grid(tmax: float, *, per_decade: int = DEFAULT_PER_DECADE, tmin: float = 0.01, N: int | None = None) -> np.ndarray:
    """Record times: t = 0, a log-spaced grid from ``tmin`` and ``tmax`` itself.

    With ``N`` given, every time is rounded to a whole number of SGD steps
    (t = steps / N) and duplicates are dropped, so simulation and ODE share
    the grid exactly.
    """
    tmax = check_real("tmax", tmax, low=0.0)
    per_decade = check_int("per_decade", per_decade, low=1)
    tmin = check_real("tmin", tmin, low=0.0, low_open=True)
    if tmax <= tmin:
        grid = np.array([0.0, tmax])
    else:
        n = max(2, int(np.ceil(per_decade * np.log10(tmax / tmin))) + 1)
        grid = np.concatenate([[0.0], np.geomspace(tmin, tmax, n)])
    if N is not None:
        grid = np.rint(grid * N) / N
    grid[-1] = tmax if N is None else np.rint(tmax * N) / N
    return np.unique(grid)


#: The arrays every encoded run has (:meth:`Trajectory.to_arrays`); the others are optional.
_RUN_KEYS = ("times", "eg", "Q_t", "R_t", "v_t", "T", "vstar", "Q0", "R0", "v0")


@dataclass
class Trajectory:
    """Record of one run (simulation or ODE) at its record times.

    Attributes
    ----------
    times : (n,) record times t = steps / N.
    eg : (n,) analytic, noise-free generalisation error (pruning eqs 5-8) at each time.
    Q, R, v : (n, K, K), (n, K, M), (n, K) order parameters at each time.
    T : (M, M) teacher overlaps (constant).
    vstar : (M,) teacher second layer.
    initial : state the run started from.
    test_mse : (n,) test-set 1/2 MSE with noisy labels, or None if not measured.
    w, wstar : final weights (simulations only), else None.
    success : False if the run stopped early (e.g. it left the valid domain).
    message : how the run ended.
    info : everything else worth keeping (configuration, nfev, timing).
    """

    times: np.ndarray
    eg: np.ndarray
    Q: np.ndarray
    R: np.ndarray
    v: np.ndarray
    T: np.ndarray
    vstar: np.ndarray
    initial: OrderParameters
    test_mse: np.ndarray | None = None
    w: np.ndarray | None = None
    wstar: np.ndarray | None = None
    success: bool = True
    message: str = ""
    info: dict = field(default_factory=dict)

    @property
    def K(self) -> int:
        return self.Q.shape[-1]

    @property
    def M(self) -> int:
        return self.T.shape[0]

    def final(self) -> OrderParameters:
        """Order parameters at the last record time."""
        return OrderParameters(self.Q[-1], self.R[-1], self.T, self.v[-1], self.vstar)

    def at(self, index: int) -> OrderParameters:
        """Order parameters at record ``index``."""
        return OrderParameters(self.Q[index], self.R[index], self.T, self.v[index], self.vstar)

    # ---------------------------------------------------------------- output
    def to_csv(self, path: str | os.PathLike, *, order_parameters: bool = False) -> Path:
        """Write ``t,eg`` (+ ``test_mse``) (+ flattened order parameters) to ``path``."""
        path = Path(path)
        header = ["t", "eg"]
        columns = [self.times, self.eg]
        if self.test_mse is not None:
            header.append("test_mse")
            columns.append(self.test_mse)
        if order_parameters:
            K, M = self.K, self.M
            iu = np.triu_indices(K)
            header += [f"Q_{i}_{k}" for i, k in zip(*iu)]
            columns += [self.Q[:, i, k] for i, k in zip(*iu)]
            header += [f"R_{i}_{n}" for i in range(K) for n in range(M)]
            columns += [self.R[:, i, n] for i in range(K) for n in range(M)]
            header += [f"v_{i}" for i in range(K)]
            columns += [self.v[:, i] for i in range(K)]
        rows = np.column_stack(columns)
        with atomic_open(path, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            for row, t in zip(rows, self.times):
                writer.writerow([_fmt_time(t)] + [repr(float(x)) for x in row[1:]])
        return path

    # ---------------------------------------------------------- run state
    def to_arrays(self) -> dict[str, np.ndarray]:
        """The one encoding of a run's state: flat arrays, the ``.npz`` layout of the module docstring.

        :meth:`save_npz`, :func:`load_state` and the sweep cache all go through it;
        :meth:`from_arrays` inverts it exactly (floats are stored bit for bit).
        """
        arrays = dict(
            Q=self.Q[-1], R=self.R[-1], T=self.T, v=self.v[-1], vstar=self.vstar,
            Q0=self.initial.Q, R0=self.initial.R, v0=self.initial.v,
            times=self.times, eg=self.eg, Q_t=self.Q, R_t=self.R, v_t=self.v,
            success=np.array(bool(self.success)), message=np.array(str(self.message)),
            info=np.array(json.dumps(self.info, default=_json_default)),
        )
        for name in ("test_mse", "w", "wstar"):
            if getattr(self, name) is not None:
                arrays[name] = np.asarray(getattr(self, name))
        return arrays

    @classmethod
    def from_arrays(cls, arrays) -> "Trajectory":
        """The :class:`Trajectory` encoded by :meth:`to_arrays` (a dict or an open ``.npz``)."""
        missing = [k for k in _RUN_KEYS if k not in arrays]
        if missing:
            raise ValueError(f"a run state needs the arrays {missing}; it was not written by Trajectory.to_arrays")

        def get(name, default=None):
            return np.asarray(arrays[name]) if name in arrays else default

        T, vstar = get("T"), get("vstar")
        return cls(times=get("times"), eg=get("eg"), Q=get("Q_t"), R=get("R_t"), v=get("v_t"), T=T, vstar=vstar,
                   initial=OrderParameters(get("Q0"), get("R0"), T, get("v0"), vstar),
                   test_mse=get("test_mse"), w=get("w"), wstar=get("wstar"),
                   success=bool(get("success", np.array(True))), message=str(get("message", np.array(""))),
                   info=json.loads(str(get("info", np.array("{}")))))

    def save_npz(self, path: str | os.PathLike) -> Path:
        """Write :meth:`to_arrays` (final and initial state, history, weights) to ``path``."""
        path = Path(path)
        with atomic_open(path, "wb") as fh:
            np.savez(fh, **self.to_arrays())
        return path


def load_state(path: str | os.PathLike, *, which: str = "initial") -> OrderParameters:
    """Read an :class:`OrderParameters` from an ``.npz`` with keys ``Q, R, T, v, vstar``.

    A file written by :meth:`Trajectory.save_npz` also has ``Q0, R0, v0``;
    ``which="initial"`` (default) then returns the state the run started from,
    so that theory started from a simulation's file overlays that simulation.
    ``which="final"`` returns ``Q, R, v``.
    """
    if which not in ("initial", "final"):
        raise ValueError(f"which must be 'initial' or 'final', got {which!r}")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read order parameters from {path}: {exc}") from None
    with data:
        if all(k in data for k in _RUN_KEYS):   # a run's file: decoded the one way, by Trajectory
            traj = Trajectory.from_arrays(data)
            return traj.initial if which == "initial" else traj.final()
        missing = [k for k in ("Q", "R", "T", "v", "vstar") if k not in data]
        if missing:
            raise ValueError(f"{path} lacks the keys {missing}; an initial state needs Q, R, T, v, vstar")
        return OrderParameters(data["Q"], data["R"], data["T"], data["v"], data["vstar"])


def _fmt_time(t: float) -> str:
    # Times are written exactly as they were asked for: 1600.0 -> "1600", 0.5 -> "0.5".
    t = float(t)
    return str(int(t)) if t.is_integer() else repr(t)


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)
