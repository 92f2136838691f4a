"""One training run: its typed settings, and what the two engines share (streams, start, records, errors).

:class:`RunSettings` is the validated, frozen configuration of one online-SGD
run (pruning paper Sec. 2 and 4; NOTES.md), built once by
:func:`tsdyn.simulate.simulate` and read by both engines: the weights engine
(:mod:`tsdyn.dynamics.weights_engine`) and the order-parameter engine
(:mod:`tsdyn.dynamics.order_engine`). Defaults are owned by :mod:`tsdyn.conventions`.

Random streams: ``numpy.random.SeedSequence(seed).spawn(6)`` gives, in order,
the teacher w*, the student initialisation (w, then v), the training inputs,
the label noise, the test inputs and the test label noise. ``data_seed``
replaces the training-input and label-noise streams by those of
``SeedSequence(data_seed)``: runs with one ``seed`` and other data seeds share
their start and differ by their SGD noise alone (replicas).
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from tsdyn import conventions as cv
from tsdyn.checks import DivergenceError, check_bool, check_int, check_real, check_times
from tsdyn.dynamics.schedules import Schedule
from tsdyn.dynamics.sgd_kernel import DIVERGENCE_BOUND
from tsdyn.order_parameters import as_vstar
from tsdyn.trajectory import record_grid

STREAMS = ("teacher", "student", "inputs", "label_noise", "test_inputs", "test_noise")
#: Step counts beyond this overflow the int64 step arithmetic long before they could finish.
MAX_STEPS = 10**15
#: The test set is regenerated chunk by chunk, so its size costs time, not memory; beyond this it never ends.
MAX_TEST_SAMPLES = 10**9


@dataclass(frozen=True, eq=False)
class RunSettings:
    """The validated settings of one training run.

    Attributes
    ----------
    N : input dimension. M, K : teacher and student hidden nodes (1 <= M <= K).
    lr, lr2 : rates eta (first layer, eta/sqrt N per step) and eta_v (second layer, eta_v/N; 0 freezes v).
    sigma : label-noise std. vstar : (M,) teacher second layer.
    steps : SGD steps (the run ends at t = steps/N). seed, data_seed : random streams (module docstring).
    init_scale : std of the student's initial w and v. per_decade : record density of the default grid.
    train_second_layer : False freezes v. test_samples : test-set size (0: no test error).
    activation : canonical label ("erf", "relu", "erf/relu" = teacher/student; conventions.activation_pair).
    weight_decay : kappa in [0, N): every step multiplies w and v by (1 - kappa/N).
    batch : samples per step (>= 1); the gradient is their mean.
    lr_schedule, lr2_schedule : :class:`~tsdyn.dynamics.schedules.Schedule` of eta and eta_v (factor at t = step/N).
    """

    N: int
    M: int
    K: int
    lr: float
    lr2: float
    sigma: float
    vstar: np.ndarray
    steps: int
    seed: int
    data_seed: int
    init_scale: float
    per_decade: int
    train_second_layer: bool
    test_samples: int
    activation: str = cv.DEFAULT_ACTIVATION
    weight_decay: float = 0.0
    batch: int = 1
    lr_schedule: Schedule = Schedule()
    lr2_schedule: Schedule = Schedule()

    @property
    def is_default_model(self) -> bool:
        """True for today's model (erf, no decay, batch 1, constant rates): the engines' fast paths."""
        return (self.activation == "erf" and self.weight_decay == 0.0 and self.batch == 1
                and self.lr_schedule.kind == "constant" and self.lr2_schedule.kind == "constant")

    @classmethod
    def validated(cls, *, N=cv.DEFAULT_N, M=cv.DEFAULT_M, K=cv.DEFAULT_K, lr=cv.DEFAULT_LR, lr2=None, sigma=0.0,
                  vstar=cv.DEFAULT_VSTAR, steps=cv.DEFAULT_TRAIN_STEPS, seed=0, data_seed=None, init_scale=1.0,
                  per_decade=cv.DEFAULT_PER_DECADE, train_second_layer=True, test_samples=0, activation=cv.DEFAULT_ACTIVATION,
                  weight_decay=0.0, batch=1, lr_schedule=None, lr2_schedule=None) -> "RunSettings":
        """Check every value (one-line ``ValueError`` naming the parameter and its range) and build the settings."""
        N = check_int("N", N, low=1)
        M = check_int("M", M, low=1)
        K = check_int("K", K, low=M, low_name="M")
        lr = check_real("lr", lr, low=0.0, low_open=True)
        lr2 = lr if lr2 is None else check_real("lr2", lr2, low=0.0)
        sigma = check_real("sigma", sigma, low=0.0)
        try:
            vstar = np.array(as_vstar(vstar, M))     # own contiguous copy
        except (TypeError, ValueError) as exc:
            if str(exc).startswith("vstar"):
                raise
            raise ValueError(f"vstar must be a real scalar or a length-M vector, got {vstar!r}") from None
        steps = check_int("steps", steps, low=0, high=MAX_STEPS)
        seed = check_int("seed", seed, low=0)
        data_seed = seed if data_seed is None else check_int("data_seed", data_seed, low=0)
        activation = cv.activation_label(activation)
        weight_decay = check_real("weight_decay", weight_decay, low=0.0, high=float(N), high_open=True)
        batch = check_int("batch", batch, low=1)
        lr_schedule = Schedule.parse(lr_schedule)
        lr2_schedule = lr_schedule if lr2_schedule is None else Schedule.parse(lr2_schedule)
        return cls(activation=activation, weight_decay=weight_decay, batch=batch, lr_schedule=lr_schedule,
                   lr2_schedule=lr2_schedule, N=N, M=M, K=K, lr=lr, lr2=lr2, sigma=sigma, vstar=vstar, steps=steps, seed=seed,
                   data_seed=data_seed, init_scale=check_real("init_scale", init_scale, low=0.0, low_open=True),
                   per_decade=check_int("per_decade", per_decade, low=1),
                   test_samples=check_int("test_samples", test_samples, low=0, high=MAX_TEST_SAMPLES),
                   train_second_layer=check_bool("train_second_layer", train_second_layer))

    def as_info(self) -> dict:
        """The settings as JSON-friendly values, for ``Trajectory.info``."""
        def plain(name, value):
            if name == "vstar":
                return value.tolist()
            return value.label() if isinstance(value, Schedule) else value
        return {f.name: plain(f.name, getattr(self, f.name)) for f in fields(self)}


def record_steps(times, settings: RunSettings) -> np.ndarray:
    """Record steps: the requested times rounded to whole steps, plus 0 and ``steps``."""
    steps, N = settings.steps, settings.N
    tmax = steps / N
    grid = record_grid(tmax, per_decade=settings.per_decade, N=N) if times is None else \
        check_times("times", times, low=0.0, high=tmax)
    record = cv.steps_for_time(grid, N)
    return np.unique(np.concatenate([[0, steps], np.clip(record, 0, steps)])).astype(np.int64)


def random_streams(seed: int, data_seed: int) -> dict[str, np.random.SeedSequence]:
    """The six seed sequences of a run (module docstring), the data ones from ``data_seed``."""
    streams = dict(zip(STREAMS, np.random.SeedSequence(seed).spawn(len(STREAMS))))
    if data_seed != seed:
        data = dict(zip(STREAMS, np.random.SeedSequence(data_seed).spawn(len(STREAMS))))
        streams.update(inputs=data["inputs"], label_noise=data["label_noise"])
    return streams


def initial_networks(settings: RunSettings, streams: dict, mask: np.ndarray | None = None):
    """Teacher w* ~ N(0, 1); student w, v ~ N(0, init_scale^2), w masked: ``(w, v, wstar)``."""
    K, M, N = settings.K, settings.M, settings.N
    wstar = np.random.default_rng(streams["teacher"]).standard_normal((M, N))
    rng = np.random.default_rng(streams["student"])
    w = settings.init_scale * rng.standard_normal((K, N))
    v = settings.init_scale * rng.standard_normal(K)
    if mask is not None:
        w = np.where(mask, w, 0.0)
    return w, v, wstar


def raise_divergence(step: int, settings: RunSettings, what: str = (
        f"a field lambda or the error signal Delta exceeded {DIVERGENCE_BOUND:g} in size (or was NaN)")):
    """Raise the :class:`DivergenceError` of a run that went bad at ``step`` (state after ``step`` updates)."""
    N = settings.N
    t = step / N
    raise DivergenceError(
        f"SGD diverged: {what} at step {step} (t = {t:g}); "
        f"try smaller rates than lr = {settings.lr:g}, lr2 = {settings.lr2:g} (N = {N})", step=step, time=t)


def run_info(settings: RunSettings, record_steps: np.ndarray, timing: dict, **extra) -> dict:
    """``Trajectory.info`` of a run: its settings, record steps, streams and timing."""
    info = settings.as_info()
    info.update(extra)
    info["record_steps"] = record_steps.tolist()
    info["streams"] = list(STREAMS)
    info.update(timing)
    info["steps_per_s"] = settings.steps / timing["train_s"] if timing["train_s"] > 0 else float("nan")
    return info
