"""``simulate``: online SGD of a two-layer student learning a two-layer teacher, and its CLI.

One entry point for both engines: the weights engine
(:mod:`tsdyn.dynamics.weights_engine`, default), which trains the weights, and
the order-parameter engine (:mod:`tsdyn.dynamics.order_engine`), the exact
Markov chain on (Q, R, v) at a cost independent of N. The settings are checked
once, into a :class:`tsdyn.dynamics.run.RunSettings` both engines read.
``python -m tsdyn.simulate --help`` runs one training from the command line.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from tsdyn import conventions as cv
from tsdyn.atomic import replaced_together
from tsdyn.cli_options import add_breadth_arguments, breadth_options
from tsdyn.checks import DivergenceError, check_mask, check_memory, check_writable
from tsdyn.dynamics.run import RunSettings, record_steps
from tsdyn.dynamics.weights_engine import STREAM_VERSION, Networks, memory_needed, run_weights
from tsdyn.order_parameters import OrderParameters
from tsdyn.trajectory import Trajectory

__all__ = ["simulate", "main", "Networks", "STREAM_VERSION", "memory_needed"]


#: Whether the order-parameter engine takes the issue-16 options (activation, decay, batch, schedules): it does.
ORDER_ENGINE_TAKES_BREADTH = True


def simulate(*, N: int | None = None, M: int | None = None, K: int | None = None, lr: float = cv.DEFAULT_LR,
             lr2: float | None = None, sigma: float = 0.0, vstar=None,
             steps: int = cv.DEFAULT_TRAIN_STEPS, seed: int = 0, data_seed: int | None = None,
             init_scale: float = 1.0, times: Sequence[float] | np.ndarray | None = None,
             per_decade: int = cv.DEFAULT_PER_DECADE,
             train_second_layer: bool = True, test_samples: int = 0, mask: np.ndarray | None = None,
             progress: bool = False, engine: str = "weights", start=None, activation="erf",
             weight_decay: float = 0.0, batch: int = 1, lr_schedule=None, lr2_schedule=None) -> Trajectory:
    """Train a student (K nodes) on a teacher (M nodes) by online SGD; record its order parameters.

    Pruning paper Sec. 2 (model) and Sec. 4 (setting); the update is that of
    NOTES.md with first-layer rate lr/sqrt(N) and second-layer rate lr2/N.

    Parameters
    ----------
    N : input dimension, >= 1; default 500 (the paper's), or that of a weights ``start``.
    M, K : teacher and student hidden nodes, 1 <= M <= K; default 2 and 6, or those of ``start``.
    lr, lr2 : learning rates eta > 0 and eta_v >= 0 (lr2 defaults to lr; 0 keeps v fixed).
    sigma : std of the label noise, >= 0.
    vstar : teacher second layer, scalar or length M; default 4, or that of ``start``.
    steps : number of SGD steps (= training samples), >= 0; the run ends at t = steps / N.
    seed : seed of ``numpy.random.SeedSequence`` (see the module docstring for the streams).
    data_seed : seed of the training inputs and label noise only, >= 0; default ``seed``.
        Runs with one ``seed`` and different ``data_seed`` start from the same
        teacher and student and see different data (replicas of the SGD noise).
    init_scale : std of the *student's* initial w and v, > 0; the teacher's w* is
        always N(0, 1) (the paper draws all three from N(0, 1): init_scale = 1).
    times : record times t in [0, steps/N], sorted; each is rounded to a whole step,
        and t = 0 and t = steps/N are always added. Default
        ``record_grid(steps/N, per_decade=per_decade, N=N)``.
    per_decade : record times per decade of the default grid.
    train_second_layer : if False, v is frozen at its random initial value
        N(0, init_scale^2) (it is not reset to a committee-machine value).
    test_samples : if > 0, also measure the test-set 1/2 MSE on this many fresh
        inputs with *noisy* labels (as the paper does), at every record time, with the run's activations
        (engine="weights": one fixed input set; engine="order": fresh fields at every record time).
    mask : optional (K, N) boolean first-layer mask (pruning at initialisation):
        w is multiplied by it at initialisation and masked entries stay exactly 0.
    progress : show a tqdm progress bar.
    engine : ``"weights"`` (default) trains the weights; ``"order"`` runs the exact
        Markov chain on (Q, R, v) at a cost independent of N
        (:mod:`tsdyn.dynamics.order_engine`, ``theory/order_engine.md``): same law
        of the recorded trajectory, other random draws, ``w = wstar = None``;
        needs N > K + M, refuses ``mask``, and measures ``test_samples`` on fresh
        fields at every record time instead of a fixed input set.
    start : start from a given state instead of the networks of ``seed``.
        ``engine="order"``: an ``OrderParameters``, a ``Trajectory`` (its final
        state) or the path of an ``.npz`` with keys Q, R, T, v, vstar, at any N > K + M.
        ``engine="weights"``: a :class:`~tsdyn.dynamics.weights_engine.Networks`
        (w, v, wstar, vstar), or a ``Trajectory`` with final weights (a
        weights-engine run), e.g. a pruned student to retrain (``mask`` then
        holds pruned first-layer weights at 0). M, K (and N for weights) and
        vstar are the start's (passing others is an error); ``init_scale`` is unused.
    activation : "erf" (default), "relu", "linear", or a "teacher/student" pair such as "erf/relu".
    weight_decay : kappa in [0, N): each step multiplies w and v by (1 - kappa/N) before the gradient step.
    batch : samples per SGD step (>= 1); the gradient is their mean and t = steps / N (B * steps samples).
    lr_schedule, lr2_schedule : ``"constant"``, ``"inverse:TAU"`` or ``"piecewise:F0,T1:F1,..."``
        (:mod:`tsdyn.dynamics.schedules`): eta(t) = lr f(t); lr2_schedule defaults to lr_schedule.
        Both engines take every option (``engine="order"`` with ``batch`` B needs N >= K + M + B).

    Returns
    -------
    Trajectory
        ``eg`` is the noise-free closed-form eps_g (pruning eqs 5-8) of the recorded
        Q, R, v; ``initial`` the exact state at t = 0; ``w``, ``wstar`` the final
        weights; ``info`` the configuration, the record steps and the timing.

    Raises
    ------
    ValueError
        For a parameter outside its range (the message names it).
    DivergenceError
        If Delta or a field lambda exceeds ``DIVERGENCE_BOUND`` (1e100) in size or
        is NaN, or the weights become non-finite; ``.step`` / ``.time`` say when:
        step s means the state after s updates (time t = s / N) is the first bad one.
    """
    if engine not in ("weights", "order"):
        raise ValueError(f"engine must be 'weights' or 'order', got {engine!r}")
    if engine == "order":
        from tsdyn.dynamics.order_engine import as_start, simulate_order

        if mask is not None:
            raise ValueError("mask is not supported by engine='order': pruned weights are no function of "
                             "the order parameters; use engine='weights'")
        start = None if start is None else as_start(start)
        if start is not None:
            M, K, vstar = _from_start(start, M=M, K=K, vstar=vstar)
    elif start is not None:
        start = _as_networks(start)
        M, K, vstar = _from_start(start, M=M, K=K, vstar=vstar)
        N = _same("N", N, start.w.shape[1])
    settings = RunSettings.validated(
        N=cv.DEFAULT_N if N is None else N, M=cv.DEFAULT_M if M is None else M, K=cv.DEFAULT_K if K is None else K, lr=lr, lr2=lr2, sigma=sigma,
        vstar=cv.DEFAULT_VSTAR if vstar is None else vstar, steps=steps, seed=seed, data_seed=data_seed,
        init_scale=init_scale, per_decade=per_decade, train_second_layer=train_second_layer,
        test_samples=test_samples, activation=activation, weight_decay=weight_decay, batch=batch,
        lr_schedule=lr_schedule, lr2_schedule=lr2_schedule)
    records = record_steps(times, settings)
    if engine == "order":
        return simulate_order(settings, records, start, progress=progress)
    check_memory(f"a run with N = {settings.N}, K = {settings.K}, M = {settings.M}",
                 memory_needed(N=settings.N, K=settings.K, M=settings.M))
    mask = None if mask is None else check_mask("mask", mask, (settings.K, settings.N))
    return run_weights(settings, records, mask, networks=start, progress=progress)


def _as_networks(start) -> Networks:
    """The weights-engine start: a Networks, or a weights run's final weights."""
    if isinstance(start, Networks):
        return start
    if isinstance(start, Trajectory) and start.w is not None and start.wstar is not None:
        return Networks(start.w, start.v[-1], start.wstar, start.vstar)
    raise ValueError("start for engine='weights' must be a Networks (w, v, wstar, vstar) or a Trajectory with final "
                     "weights; order parameters need engine='order'")


def _from_start(start: OrderParameters | Networks, *, M, K, vstar):
    """M, K, vstar of ``start``; an explicitly passed value must agree with it."""
    own = dict(M=start.M, K=start.K) if isinstance(start, OrderParameters) else \
        dict(M=start.wstar.shape[0], K=start.w.shape[0])
    for name, given in (("M", M), ("K", K)):
        _same(name, given, own[name])
    own_vstar = np.asarray(start.vstar, dtype=float)
    if vstar is not None and not np.array_equal(np.broadcast_to(np.asarray(vstar, dtype=float), own_vstar.shape),
                                                own_vstar):
        raise ValueError(f"vstar = {vstar!r} differs from the start's vstar = {own_vstar.tolist()}")
    return own["M"], own["K"], own_vstar


def _same(name: str, given, own: int) -> int:
    if given is not None and given != own:
        raise ValueError(f"{name} = {given!r} differs from the start's {name} = {own} (start= fixes it)")
    return own


# ------------------------------------------------------------------ CLI
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tsdyn.simulate",
        description="Online SGD of a two-layer student (K nodes) learning a two-layer teacher (M nodes), "
                    "g = erf(x/sqrt2). Defaults are the pruning paper's setting. Writes PREFIX.csv "
                    "(t, eg[, test_mse]), PREFIX.npz (order parameters, weights) and PREFIX.png (eg(t)). "
                    "--activation, --weight-decay, --batch and --lr-schedule widen the model (issue 16).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--N", type=int, default=cv.DEFAULT_N, help="input dimension")
    p.add_argument("--M", type=int, default=None, help="teacher hidden nodes (default 2, or the start's)")
    p.add_argument("--K", type=int, default=None, help="student hidden nodes, K >= M (default 6, or the start's)")
    p.add_argument("--lr", type=float, default=cv.DEFAULT_LR, help="learning rate eta (first layer: eta/sqrt N)")
    p.add_argument("--lr2", type=float, default=None, help="second-layer rate eta_v (per step eta_v/N); default: lr")
    p.add_argument("--sigma", type=float, default=0.0, help="std of the label noise")
    p.add_argument("--vstar", type=float, nargs="+", default=None,
                   help=f"teacher second layer: one value for all M nodes, or M values (default {cv.DEFAULT_VSTAR:g}, "
                        "or the start's)")
    p.add_argument("--steps", type=int, default=cv.DEFAULT_TRAIN_STEPS, help="SGD steps (training samples)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--data-seed", type=int, default=None,
                   help="seed of the training inputs and label noise only (default: --seed); "
                        "same --seed, other --data-seed: same start, other SGD noise")
    p.add_argument("--init-scale", type=float, default=1.0, help="std of the student's initial w and v")
    p.add_argument("--per-decade", type=int, default=cv.DEFAULT_PER_DECADE, help="record times per decade of t")
    p.add_argument("--freeze-second-layer", action="store_true", help="keep v at its initial value")
    p.add_argument("--test-samples", type=int, default=0,
                   help="test inputs for the noisy-label test 1/2 MSE (0: not measured; the paper uses 80000)")
    p.add_argument("--engine", choices=("weights", "order"), default="weights",
                   help="'weights': train the weights; 'order': the exact order-parameter chain (cost independent "
                        "of N, same law; the .npz then has no w, wstar)")
    p.add_argument("--start", default=None,
                   help="--engine order: .npz with keys Q, R, T, v, vstar to start from (e.g. a previous PREFIX.npz: "
                        "its final state)")
    p.add_argument("--out", default="simulation", help="output prefix of the .csv, .npz and .png files")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return add_breadth_arguments(p)


def plot_eg(traj: Trajectory, path: str | Path) -> Path:
    """Log-log figure of eps_g(t) (and the test 1/2 MSE if measured), written atomically."""
    from matplotlib.figure import Figure

    from tsdyn.atomic import atomic_open

    fig = Figure(figsize=(5.5, 4), constrained_layout=True)
    ax = fig.add_subplot()
    later = traj.times > 0
    ax.loglog(traj.times[later], traj.eg[later], label=r"$\epsilon_g$ (eqs 5-8, noise-free)")
    if traj.test_mse is not None:
        ax.loglog(traj.times[later], traj.test_mse[later], "--", label=r"test $\frac{1}{2}$MSE (noisy labels)")
    i = traj.info
    ax.set(xlabel="t = steps / N", ylabel="error",
           title=f"N={i['N']}, M={i['M']}, K={i['K']}, $\\eta$={i['lr']:g}, $\\sigma$={i['sigma']:g}, seed {i['seed']}")
    ax.legend()
    path = Path(path)
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=120)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    vstar = None if args.vstar is None else args.vstar[0] if len(args.vstar) == 1 else np.array(args.vstar)
    try:
        # Before the run: a result that cannot be written is a result lost.
        outputs = [check_writable("--out", f"{args.out}.{suffix}") for suffix in ("csv", "npz", "png")]
        breadth = breadth_options(args)
        traj = simulate(N=args.N, M=args.M, K=args.K, lr=args.lr, lr2=args.lr2, sigma=args.sigma, vstar=vstar,
                        steps=args.steps, seed=args.seed, data_seed=args.data_seed, init_scale=args.init_scale, per_decade=args.per_decade,
                        train_second_layer=not args.freeze_second_layer, test_samples=args.test_samples,
                        progress=not args.no_progress, engine=args.engine, start=args.start, **breadth)
    except (ValueError, DivergenceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with replaced_together(outputs) as staged:
        traj.to_csv(staged[outputs[0]])
        traj.save_npz(staged[outputs[1]])
        plot_eg(traj, staged[outputs[2]])
    summary = f"final t = {traj.times[-1]:g}: eg = {traj.eg[-1]:.6g}"
    if traj.test_mse is not None:
        summary += f", test 1/2 MSE = {traj.test_mse[-1]:.6g}"
    print(summary)
    print(f"wall time {traj.info['wall_s']:.2f} s ({traj.info['steps_per_s']:.3g} steps/s); wrote "
          + ", ".join(str(f) for f in outputs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
