"""The training run shared by the targets: one student trained by online SGD.

fig2a, fig3, ode_vs_sim, theorems and pathkernel (M = 2, K = 6) and fig2b,
theorems and pathkernel (M = 5, K = 20) ask for the same runs with the same
parameters, so the sweep trains each student once and every target reads it.
Every argument of :func:`tsdyn.simulate.simulate` that shapes the run is in
the job's parameters, and so in its cache key, including the version of the
random input stream.
"""
from __future__ import annotations

from tsdyn.sweep.job import Job


def train(*, N: int, M: int, K: int, lr: float, lr2: float, vstar: float, steps: int, sigma: float, seed: int,
          init_scale: float, per_decade: int, train_second_layer: bool, test_samples: int, stream: str) -> dict:
    """Train a student in the teacher-student setup; return its history and final weights."""
    from tsdyn.simulate import STREAM_VERSION, simulate

    if stream != STREAM_VERSION:
        raise ValueError(f"stream must be the simulator's input stream {STREAM_VERSION!r}, got {stream!r}")
    traj = simulate(N=N, M=M, K=K, lr=lr, lr2=lr2, sigma=sigma, vstar=vstar, steps=steps, seed=seed,
                    init_scale=init_scale, per_decade=per_decade, train_second_layer=train_second_layer,
                    test_samples=test_samples)
    out = dict(times=traj.times, eg=traj.eg, w=traj.w, v=traj.v[-1], wstar=traj.wstar, vstar=traj.vstar,
               Q0=traj.initial.Q, R0=traj.initial.R, v0=traj.initial.v, T=traj.T,
               seconds=float(traj.info["wall_s"]))
    if traj.test_mse is not None:
        out["test_mse"] = traj.test_mse
    return out


def training_jobs(cfg: dict) -> list[Job]:
    """One training job per (sigma, seed) of a target configuration."""
    from tsdyn.simulate import STREAM_VERSION

    params = dict(N=int(cfg["N"]), M=int(cfg["M"]), K=int(cfg["K"]), lr=float(cfg["lr"]),
                  lr2=float(cfg.get("lr2", cfg["lr"])), vstar=float(cfg["vstar"]), steps=int(cfg["steps"]),
                  init_scale=float(cfg.get("init_scale", 1.0)), per_decade=int(cfg.get("per_decade", 10)),
                  train_second_layer=bool(cfg.get("train_second_layer", True)),
                  test_samples=int(cfg.get("train_test_samples", 0)), stream=STREAM_VERSION)
    return [Job(training_name(cfg, sigma, seed), "tsdyn.targets.training:train",
                {**params, "sigma": float(sigma), "seed": int(seed)})
            for sigma in cfg["sigmas"] for seed in cfg["seeds"]]


def training_name(cfg: dict, sigma: float, seed: int) -> str:
    return f"train-M{cfg['M']}-K{cfg['K']}-N{cfg['N']}-sigma{float(sigma):g}-seed{int(seed)}"
