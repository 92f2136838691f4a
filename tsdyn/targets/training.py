"""The training run shared by the pruning targets: one student trained by online SGD.

fig2a, fig2b, fig3 and theorems ask for the same runs with the same
parameters, so the sweep trains each student once and every target reads it.
"""
from __future__ import annotations

from tsdyn.sweep.job import Job


def train(*, N: int, M: int, K: int, lr: float, vstar: float, steps: int, sigma: float, seed: int,
          test_samples: int = 0) -> dict:
    """Train a student in the teacher-student setup; return its history and final weights."""
    from tsdyn.simulate import simulate  # imported in the worker, after the fork

    traj = simulate(N=N, M=M, K=K, lr=lr, sigma=sigma, vstar=vstar, steps=steps, seed=seed,
                    test_samples=test_samples)
    out = dict(times=traj.times, eg=traj.eg, w=traj.w, v=traj.v[-1], wstar=traj.wstar, vstar=traj.vstar,
               Q0=traj.initial.Q, R0=traj.initial.R, v0=traj.initial.v, T=traj.T,
               seconds=float(traj.info.get("seconds", float("nan"))))
    if traj.test_mse is not None:
        out["test_mse"] = traj.test_mse
    return out


def training_jobs(cfg: dict) -> list[Job]:
    """One training job per (sigma, seed) of a target configuration."""
    params = {k: cfg[k] for k in ("N", "M", "K", "lr", "vstar", "steps")}
    params["test_samples"] = int(cfg.get("train_test_samples", 0))
    return [Job(training_name(cfg, sigma, seed), "tsdyn.targets.training:train",
                {**params, "sigma": float(sigma), "seed": int(seed)})
            for sigma in cfg["sigmas"] for seed in cfg["seeds"]]


def training_name(cfg: dict, sigma: float, seed: int) -> str:
    return f"train-M{cfg['M']}-K{cfg['K']}-N{cfg['N']}-sigma{float(sigma):g}-seed{int(seed)}"
