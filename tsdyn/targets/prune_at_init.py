"""Sweep target ``prune_at_init``: prune a random student with each score, then train it.

Path-kernel paper Secs 4-5 in the teacher-student setting. For every seed the
student's initial weights are those :func:`tsdyn.simulate.simulate` draws for
that seed; a score (:mod:`tsdyn.pathkernel.scores`) or a random baseline picks a
first-layer mask with k_n N edges (budget c = k_n / K, pruning paper eq 1);
the simulator trains the masked student, keeping the mask at every step.

Outputs (``report``):

* ``prune_at_init.csv`` / ``.png`` / ``.pdf``: final GE (eqs 5-8) against c per
  pruner, mean and spread over seeds.
* ``prune_at_init_trace.csv`` / ``.png`` / ``.pdf``: the paper's convergence
  claim (Sec. 5.1, Fig. 2): Tr Pi of the pruned student at initialisation
  against its early speed - the GE drop and ||Delta w|| at t = ``t_early`` -
  with the least-squares line speed = a + b log Tr Pi and its R^2, over all
  runs and within each budget; the CSV also fits log final GE against
  log Tr Pi and against the effective number of nodes of the mask.
* ``prune_at_init_masks.csv``: how far the masks of the scores agree
  (Jaccard index with SynFlow), and whether iterative SynFlow changes it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.stats import linregress

from tsdyn.outputs import save_figure, write_rows
from tsdyn.pathkernel.kernel import path_kernel_trace
from tsdyn.pruning.operators import bernoulli_edge_mask, select_random
from tsdyn.pathkernel.scores import DATA_SCORES, DIST_SCORES, SCORE_NAMES, input_relevance, prune, teacher_data
from tsdyn.sweep.job import Job
from tsdyn.targets.training import sgd_cost

#: Pruners that are no score: a Bernoulli(c) edge mask and k_n whole random nodes.
BASELINES = ("random_edge", "random_node")
DENSE = "dense"
#: Offset of the seed of the scoring data (SNIP, GraSP, mu) from the run's seed.
DATA_SEED_OFFSET = 10_000
#: Offset of the seed of the random masks.
MASK_SEED_OFFSET = 20_000


# ---------------------------------------------------------------- masks
def initial_mask(pruner: str, w, v, wstar, vstar, density: float, *, seed: int, sigma: float = 0.0,
                 score_samples: int = 1000, rounds: int = 1) -> np.ndarray:
    """First-layer mask of ``pruner`` for the student (w, v) at initialisation.

    ``pruner``: a score of :data:`tsdyn.pathkernel.scores.SCORE_NAMES`, ``"synflow_iter"``
    (iterative SynFlow with ``rounds`` rounds), ``"random_edge"`` (Bernoulli(c)),
    ``"random_node"`` (round(c K) whole nodes) or ``"dense"``. SNIP, GraSP and
    the -Dist relevance vector mu = <x^2> use ``score_samples`` fresh inputs
    labelled by the teacher (label noise ``sigma``, as in training).
    """
    K, N = np.shape(w)
    rng = np.random.default_rng(MASK_SEED_OFFSET + seed)
    if pruner == DENSE:
        return np.ones((K, N), bool)
    if pruner == "random_edge":
        return bernoulli_edge_mask(K, N, density, rng)
    if pruner == "random_node":
        mask = np.zeros((K, N), bool)
        mask[select_random(K, int(round(density * K)), rng)] = True
        return mask
    name, n_rounds = ("synflow", rounds) if pruner == "synflow_iter" else (pruner, 1)
    if name not in SCORE_NAMES:
        raise ValueError(f"pruner must be one of {SCORE_NAMES + ('synflow_iter',) + BASELINES + (DENSE,)}, got {pruner!r}")
    data = {}
    if name in DATA_SCORES or name in DIST_SCORES:
        x, y = teacher_data(wstar, vstar, score_samples, seed=DATA_SEED_OFFSET + seed, sigma=sigma)
        data = {"x": x, "y": y, "mu": input_relevance(x)}
    return prune(name, w, v, density, rounds=n_rounds, **data).w


# ---------------------------------------------------------------- the job
def train_pruned(*, N: int, M: int, K: int, lr: float, vstar: float, sigma: float, steps: int,
                 early_steps: int, seed: int, pruner: str, kn: int, score_samples: int, rounds: int = 1) -> dict:
    """Prune the seed's initial student with ``pruner`` to c = kn / K, then train it by online SGD.

    Returns the GE history of the full run, the GE and ||w(t) - w(0)|| after
    ``early_steps`` steps (a second, short run of the same seed: identical
    first steps), Tr Pi of the pruned initial student and the mask.
    """
    from tsdyn.simulate import simulate  # imported in the worker, after the fork

    common = dict(N=N, M=M, K=K, lr=lr, vstar=vstar, sigma=sigma, seed=seed)
    start = simulate(**common, steps=0)
    w0, v0 = start.w, start.v[-1]
    mask = initial_mask(pruner, w0, v0, start.wstar, vstar, kn / K, seed=seed, sigma=sigma,
                        score_samples=score_samples, rounds=rounds)
    early = simulate(**common, steps=early_steps, mask=mask)
    full = simulate(**common, steps=steps, mask=mask)
    return dict(times=full.times, eg=full.eg, eg0=float(full.eg[0]), eg_early=float(early.eg[-1]),
                dw_early=float(np.linalg.norm(early.w - np.where(mask, w0, 0.0))),
                trace_pi=path_kernel_trace(w0, v0, mask), mask=mask, w0=w0, v0=v0, wstar=start.wstar,
                kept=int(mask.sum()), nodes_alive=int(mask.any(axis=1).sum()))


def jobs(cfg: dict, *, quick: bool = False) -> list[Job]:
    """One training per (setting K, pruner, budget k_n, seed), plus the dense student per seed."""
    out = []
    for setting in _settings(cfg):
        base = dict(N=cfg["N"], M=cfg["M"], K=setting["K"], lr=cfg["lr"], vstar=cfg["vstar"], sigma=cfg["sigma"],
                    steps=int(round(cfg["t_final"] * cfg["N"])), early_steps=int(round(cfg["t_early"] * cfg["N"])),
                    score_samples=cfg["score_samples"])
        for seed in cfg["seeds"]:
            for pruner, kn in [(DENSE, setting["K"])] + [(p, kn) for p in setting["pruners"] for kn in setting["kn"]]:
                params = {**base, "seed": int(seed), "pruner": pruner, "kn": int(kn)}
                if pruner == "synflow_iter":
                    params["rounds"] = cfg["iterative_rounds"]
                out.append(Job(_job_name(setting["K"], pruner, kn, seed), "tsdyn.targets.prune_at_init:train_pruned",
                               params, cost=sgd_cost(steps=base["steps"], N=base["N"], K=setting["K"])))
    return out


def _settings(cfg: dict) -> list[dict]:
    main = {"K": cfg["K"], "pruners": cfg["pruners"], "kn": cfg["kn"]}
    scan = cfg.get("K_scan", {})
    return [main] + [{"K": K, "pruners": scan["pruners"], "kn": [int(round(f * K)) for f in scan["kn_fractions"]]}
                     for K in scan.get("K", [])]


def _job_name(K: int, pruner: str, kn: int, seed: int) -> str:
    return f"prune-at-init-K{K}-{pruner}-kn{kn}-seed{seed}"


# ---------------------------------------------------------------- report
ROW_FIELDS = ("K", "pruner", "kn", "c", "seed", "eg_final", "log_eg_final", "eg0", "eg_early", "ge_drop", "dw_early",
              "trace_pi", "log_trace_pi", "kept", "nodes_alive", "effective_nodes")


def report(cfg: dict, results: dict[str, dict], out: Path) -> list[Path]:
    """Write the final-GE table and figure, the Tr Pi / early-speed fit and the mask comparison."""
    out = Path(out)
    rows = _rows(cfg, results)
    written = [write_rows(rows, out / "prune_at_init.csv", ROW_FIELDS)]
    written += _figure_final_ge(cfg, rows, out)
    fits = trace_fits([r for r in rows if r["K"] == cfg["K"] and r["pruner"] != DENSE])
    written.append(write_rows(fits, out / "prune_at_init_trace.csv", FIT_FIELDS))
    written += _figure_trace(cfg, rows, fits, out)
    written.append(write_rows(mask_agreement(cfg, results), out / "prune_at_init_masks.csv", MASK_FIELDS))
    return written


def _rows(cfg: dict, results: dict[str, dict]) -> list[dict]:
    rows = []
    for setting in _settings(cfg):
        K = setting["K"]
        for seed in cfg["seeds"]:
            for pruner, kn in [(DENSE, K)] + [(p, kn) for p in setting["pruners"] for kn in setting["kn"]]:
                r = results[_job_name(K, pruner, kn, seed)]
                rows.append(dict(K=K, pruner=pruner, kn=kn, c=kn / K, seed=seed, eg_final=float(r["eg"][-1]),
                                 log_eg_final=float(np.log(r["eg"][-1])),
                                 eg0=float(r["eg0"]), eg_early=float(r["eg_early"]),
                                 ge_drop=float(r["eg0"] - r["eg_early"]), dw_early=float(r["dw_early"]),
                                 trace_pi=float(r["trace_pi"]), log_trace_pi=float(np.log(r["trace_pi"])),
                                 kept=int(r["kept"]), nodes_alive=int(r["nodes_alive"]),
                                 effective_nodes=effective_nodes(r["mask"])))
    return rows


def effective_nodes(mask: np.ndarray) -> float:
    """Participation ratio (sum_k n_k)^2 / sum_k n_k^2 of the kept edges per node: how many nodes the budget spans."""
    counts = np.asarray(mask).sum(axis=1).astype(float)
    return float(counts.sum() ** 2 / np.sum(counts**2)) if counts.any() else 0.0


FIT_FIELDS = ("y", "x", "runs", "n", "slope", "intercept", "r2")
SPEEDS = {"ge_drop": "GE drop eps(0) - eps(t_early)", "dw_early": "||w(t_early) - w(0)||"}
#: (y, x) pairs fitted by least squares: the paper's claim (speed vs log Tr Pi, Fig. 2), then whether
#: Tr Pi or the spread of the budget over nodes tells the final GE.
FITS = (("ge_drop", "log_trace_pi"), ("dw_early", "log_trace_pi"),
        ("log_eg_final", "log_trace_pi"), ("log_eg_final", "effective_nodes"))


def trace_fits(rows: list[dict]) -> list[dict]:
    """Least-squares lines y = intercept + slope * x with R^2, for every pair of :data:`FITS`.

    The first two are the path-kernel paper's Fig. 2 (early speed against
    log Tr Pi at initialisation). One fit over all runs, and one within each
    budget k_n (where Tr Pi is not simply a proxy of the number of kept edges).
    """
    fits = []
    groups = [("all", rows)] + [(f"kn={kn}", [r for r in rows if r["kn"] == kn])
                                for kn in sorted({r["kn"] for r in rows})]
    for y_key, x_key in FITS:
        for label, group in groups:
            if len(group) < 3:
                continue
            fit = linregress([r[x_key] for r in group], [r[y_key] for r in group])
            fits.append(dict(y=y_key, x=x_key, runs=label, n=len(group), slope=float(fit.slope),
                             intercept=float(fit.intercept), r2=float(fit.rvalue ** 2)))
    return fits


MASK_FIELDS = ("K", "kn", "seed", "pruner", "kept", "nodes_alive", "jaccard_with_synflow")


def mask_agreement(cfg: dict, results: dict[str, dict]) -> list[dict]:
    """Jaccard index of every pruner's mask with SynFlow's, per (K, k_n, seed).

    Iterative SynFlow (``iterative_rounds`` rounds) is recomputed here from the
    stored initial weights: with first-layer pruning it keeps SynFlow's mask.
    """
    rows = []
    for setting in _settings(cfg):
        K = setting["K"]
        if "synflow" not in setting["pruners"]:
            continue
        for seed in cfg["seeds"]:
            for kn in setting["kn"]:
                ref = results[_job_name(K, "synflow", kn, seed)]
                masks = {p: results[_job_name(K, p, kn, seed)]["mask"] for p in setting["pruners"]}
                masks["synflow_iter"] = prune("synflow", ref["w0"], ref["v0"], kn / K,
                                              rounds=cfg["iterative_rounds"]).w
                for pruner, mask in masks.items():
                    union = np.logical_or(mask, ref["mask"]).sum()
                    jac = np.logical_and(mask, ref["mask"]).sum() / union if union else 1.0
                    rows.append(dict(K=K, kn=kn, seed=seed, pruner=pruner, kept=int(mask.sum()),
                                     nodes_alive=int(mask.any(axis=1).sum()), jaccard_with_synflow=float(jac)))
    return rows


def _mean_sd(rows: list[dict], key: str) -> tuple[float, float]:
    vals = np.array([r[key] for r in rows])
    return float(vals.mean()), float(vals.std(ddof=1)) if vals.size > 1 else 0.0


def _figure_final_ge(cfg: dict, rows: list[dict], out: Path) -> list[Path]:
    from matplotlib.figure import Figure

    settings = _settings(cfg)
    fig = Figure(figsize=(6.5 if len(settings) == 1 else 11, 4.3), constrained_layout=True)
    axes = fig.subplots(1, 2 if len(settings) > 1 else 1, squeeze=False)[0]
    main = settings[0]
    ax = axes[0]
    for i, pruner in enumerate(main["pruners"]):
        pts = [(kn / main["K"], *_mean_sd([r for r in rows if r["K"] == main["K"] and r["pruner"] == pruner
                                            and r["kn"] == kn], "eg_final")) for kn in main["kn"]]
        c, m, s = map(np.array, zip(*pts))
        ax.errorbar(c * (1 + 0.012 * (i - len(main["pruners"]) / 2)), m, yerr=s, marker=pruner_marker(pruner),
                    capsize=2, label=pruner, **pruner_style(pruner))
    dense, _ = _mean_sd([r for r in rows if r["K"] == main["K"] and r["pruner"] == DENSE], "eg_final")
    ax.axhline(dense, color="k", lw=0.8, ls=":", label="dense")
    ax.set(xlabel="budget c = k_n / K", ylabel=r"final $\epsilon_g$ (eqs 5-8)", yscale="log",
           title=f"pruned at init, then trained to t = {cfg['t_final']:g}\n"
                 f"M={cfg['M']}, K={main['K']}, N={cfg['N']}, mean $\\pm$ sd over {len(cfg['seeds'])} seeds")
    ax.legend(fontsize=7, ncol=2)
    if len(settings) > 1:
        ax = axes[1]
        Ks = [s["K"] for s in settings]
        for pruner in settings[1]["pruners"]:
            pts = []
            for s in settings:
                kn = int(round(s["K"] * cfg["K_scan"]["kn_fractions"][0]))
                sel = [r for r in rows if r["K"] == s["K"] and r["pruner"] == pruner and r["kn"] == kn]
                pts.append(_mean_sd(sel, "eg_final") if sel else (np.nan, np.nan))
            m, sd = map(np.array, zip(*pts))
            ax.errorbar(Ks, m, yerr=sd, marker=pruner_marker(pruner), capsize=2, label=pruner, **pruner_style(pruner))
        dense = [_mean_sd([r for r in rows if r["K"] == K and r["pruner"] == DENSE], "eg_final")[0] for K in Ks]
        ax.plot(Ks, dense, "k:", lw=0.8, label="dense")
        ax.set(xlabel="student width K", ylabel=r"final $\epsilon_g$", yscale="log",
               title=f"budget c = {cfg['K_scan']['kn_fractions'][0]:.3g} as K grows (M = {cfg['M']})")
        ax.set_xticks(Ks, [str(K) for K in Ks])
        ax.legend(fontsize=7)
    return save_figure(fig, out / "prune_at_init")


def _figure_trace(cfg: dict, rows: list[dict], fits: list[dict], out: Path) -> list[Path]:
    from matplotlib.figure import Figure

    sel = [r for r in rows if r["K"] == cfg["K"] and r["pruner"] != DENSE]
    fig = Figure(figsize=(11.5, 4.2), layout="constrained")
    for ax, speed in zip(fig.subplots(1, 2), SPEEDS):
        for pruner in dict.fromkeys(r["pruner"] for r in sel):
            pts = [r for r in sel if r["pruner"] == pruner]
            ax.scatter([r["log_trace_pi"] for r in pts], [r[speed] for r in pts], s=18, label=pruner,
                       marker=pruner_marker(pruner), color=pruner_style(pruner).get("color"))
        fit = next(f for f in fits if f["y"] == speed and f["runs"] == "all")
        xs = np.linspace(min(r["log_trace_pi"] for r in sel), max(r["log_trace_pi"] for r in sel), 2)
        ax.plot(xs, fit["intercept"] + fit["slope"] * xs, "k-", lw=1)
        within = [f["r2"] for f in fits if f["y"] == speed and f["runs"] != "all"]
        ax.text(0.03, 0.95, f"$R^2$ = {fit['r2']:.2f} (all runs)\nwithin a budget: "
                + ", ".join(f"{r:.2f}" for r in within), transform=ax.transAxes, va="top", fontsize=8)
        ax.set(xlabel=r"log Tr $\Pi$ at initialisation (eq 14)", ylabel=SPEEDS[speed].replace("t_early", f"t={cfg['t_early']:g}"))
    handles, labels = fig.axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="outside right center")
    fig.suptitle(f"Path-kernel trace vs early training speed (K={cfg['K']}, M={cfg['M']}, N={cfg['N']})")
    return save_figure(fig, out / "prune_at_init_trace")


_COLORS = {"magnitude": "C0", "snip": "C1", "grasp": "C2", "synflow": "C3", "synflow_l2": "C4",
           "synflow_dist": "C5", "synflow_l2_dist": "C6", "synflow_iter": "C3", "random_edge": "0.45",
           "random_node": "C9", DENSE: "k"}


def pruner_style(pruner: str) -> dict:
    """Line colour and style of a pruner, the same in every figure of the path-kernel targets."""
    return {"color": _COLORS.get(pruner), "ls": "--" if pruner.startswith("random") or "dist" in pruner else "-"}


def pruner_marker(pruner: str) -> str:
    """Marker of a pruner in the path-kernel figures."""
    return {"random_edge": "x", "random_node": "s", "grasp": "^", "snip": "v"}.get(pruner, "o")
