"""The training run shared by the targets: one student trained by online SGD.

fig2a, fig3, ode_vs_sim, theorems and pathkernel (M = 2, K = 6) and fig2b,
theorems and pathkernel (M = 5, K = 20) ask for the same runs with the same
parameters, so the sweep trains each student once and every target reads it.
Every argument of :func:`tsdyn.simulate.simulate` that shapes the run is in
the job's parameters, and so in its cache key, including the version of the
random input stream. A job returns the run's :class:`~tsdyn.trajectory.Trajectory`
encoded by :meth:`~tsdyn.trajectory.Trajectory.to_arrays` (the cache stores a
flat dict of arrays); :mod:`tsdyn.targets.students` decodes it, the only reader.
"""
from __future__ import annotations

from tsdyn import conventions as cv
from tsdyn.sweep.job import Job


def train(*, N: int, M: int, K: int, lr: float, lr2: float, vstar: float, steps: int, sigma: float, seed: int,
          init_scale: float, per_decade: int, train_second_layer: bool, test_samples: int, stream: str,
          data_seed: int | None = None, engine: str = "weights", start_N: int | None = None,
          **breadth) -> dict:
    """Train a student in the teacher-student setup; return its trajectory (history and final weights),
    as :meth:`Trajectory.to_arrays`.

    ``engine="order"`` runs the order-parameter chain instead (no weights).
    ``start_N`` (order engine only) starts from the initial state of ``seed``
    drawn at input dimension ``start_N``, then runs at ``N``: one start held
    fixed in order-parameter space while N grows (theory/ode_vs_simulation.md, Sec. 4).
    ``breadth``: the model-breadth options of :data:`BREADTH_DEFAULTS` (activation,
    weight_decay, batch, lr_schedule, lr2_schedule), passed to ``simulate`` as given.
    """
    from tsdyn.simulate import simulate

    if stream != stream_version(engine):
        raise ValueError(f"stream must be the {engine} engine's random stream {stream_version(engine)!r}, got {stream!r}")
    start = None
    if start_N is not None:
        start = simulate(N=start_N, M=M, K=K, vstar=vstar, steps=0, seed=seed, init_scale=init_scale).initial
    traj = simulate(N=N, M=M, K=K, lr=lr, lr2=lr2, sigma=sigma, vstar=vstar, steps=steps, seed=seed,
                    data_seed=data_seed, init_scale=init_scale, per_decade=per_decade,
                    train_second_layer=train_second_layer, test_samples=test_samples, engine=engine, start=start,
                    **_checked_breadth(breadth))
    return traj.to_arrays()


#: The model-breadth options of a training run (issue 16) at their defaults: today's model. A job's
#: parameters hold only the options that differ, so every earlier run keeps its cache key.
BREADTH_DEFAULTS = dict(activation="erf", weight_decay=0.0, batch=1, lr_schedule="constant", lr2_schedule=None)


def _checked_breadth(breadth: dict) -> dict:
    unknown = sorted(set(breadth) - set(BREADTH_DEFAULTS))
    if unknown:
        raise ValueError(f"train got unknown options {unknown}; the model-breadth options are {sorted(BREADTH_DEFAULTS)}")
    return breadth


def breadth_params(cfg: dict) -> dict:
    """The non-default model-breadth options of a configuration, canonical (labels, floats, ints)."""
    from tsdyn.conventions import activation_label
    from tsdyn.dynamics.schedules import Schedule

    given = {k: cfg.get(k) for k in BREADTH_DEFAULTS if cfg.get(k) is not None}
    canonical = {}
    if "activation" in given:
        canonical["activation"] = activation_label(given["activation"])
    if "weight_decay" in given:
        canonical["weight_decay"] = float(given["weight_decay"])
    if "batch" in given:
        canonical["batch"] = int(given["batch"])
    for name in ("lr_schedule", "lr2_schedule"):
        if name in given:
            canonical[name] = Schedule.parse(given[name]).label()
    return {k: v for k, v in canonical.items() if v != BREADTH_DEFAULTS[k]}


def _breadth_suffix(cfg: dict) -> str:
    """Name suffix of the non-default breadth options, e.g. ``-relu-wd0.1-B4-lrinverse10``."""
    short = dict(activation="", weight_decay="wd", batch="B", lr_schedule="lr", lr2_schedule="lr2")
    text = "".join(f"-{short[k]}{v}" for k, v in breadth_params(cfg).items())
    return text.replace("/", "_").replace(":", "").replace(",", "_")


def stream_version(engine: str) -> str:
    """The name of an engine's random stream: part of every cached run's key, so a new stream never reuses old runs."""
    if engine == "order":
        from tsdyn.dynamics.order_engine import STREAM_VERSION
    else:
        from tsdyn.simulate import STREAM_VERSION
    return STREAM_VERSION


def training_jobs(cfg: dict) -> list[Job]:
    """One training job per (sigma, seed) of a target configuration."""
    return [training_job(cfg, sigma, seed) for sigma in cfg["sigmas"] for seed in cfg["seeds"]]


def sgd_cost(*, steps: int, N: int, K: int) -> float:
    """Rough relative cost of a training run: drawing the inputs weighs about as much as 4 nodes."""
    return float(steps) * N * (K + 4)


def training_job(cfg: dict, sigma: float, seed: int, data_seed: int | None = None) -> Job:
    """The one place a training job is built from a target's configuration (its parameters are its cache key)."""
    engine = cfg.get("engine", "weights")
    params = dict(N=int(cfg["N"]), M=int(cfg["M"]), K=int(cfg["K"]), lr=float(cfg["lr"]),
                  lr2=float(cfg.get("lr2", cfg["lr"])), vstar=float(cfg["vstar"]), steps=int(cfg["steps"]),
                  init_scale=float(cfg.get("init_scale", 1.0)), per_decade=int(cfg.get("per_decade", cv.DEFAULT_PER_DECADE)),
                  train_second_layer=bool(cfg.get("train_second_layer", True)),
                  test_samples=int(cfg.get("train_test_samples", 0)), stream=stream_version(engine),
                  sigma=float(sigma), seed=int(seed))
    # Options at their defaults are left out of the parameters, so the keys of earlier runs do not move.
    if data_seed is not None and int(data_seed) != int(seed):
        params["data_seed"] = int(data_seed)
    if engine != "weights":
        params["engine"] = engine
    if cfg.get("start_N") is not None:
        params["start_N"] = int(cfg["start_N"])
    params.update(breadth_params(cfg))
    cost = sgd_cost(steps=params["steps"], N=params["N"], K=params["K"]) if engine == "weights" else \
        order_cost(steps=params["steps"], M=params["M"], K=params["K"])
    return Job(training_name(cfg, sigma, seed, data_seed), "tsdyn.targets.training:train", params, cost=cost)


def order_cost(*, steps: int, M: int, K: int) -> float:
    """Rough relative cost of an order-engine run, in the units of :func:`sgd_cost` (no N: its point)."""
    return float(steps) * (K + M) ** 2 * 8


def training_name(cfg: dict, sigma: float, seed: int, data_seed: int | None = None) -> str:
    name = f"train-M{cfg['M']}-K{cfg['K']}-N{cfg['N']}-sigma{float(sigma):g}-seed{int(seed)}"
    if data_seed is not None and int(data_seed) != int(seed):
        name += f"-data{int(data_seed)}"
    if cfg.get("engine", "weights") != "weights":
        name += f"-{cfg['engine']}"
    if cfg.get("start_N") is not None:
        name += f"-start{int(cfg['start_N'])}"
    return name + _breadth_suffix(cfg)
