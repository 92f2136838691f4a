"""What the targets share: their trained students and the replicas of a start.

The fixed seeds live in :mod:`tsdyn.seeds`. Targets read their
runs only through these functions: a training job returns (and the cache
stores) :meth:`Trajectory.to_arrays`, decoded here by :func:`run` into a
:class:`~tsdyn.trajectory.Trajectory`; a trained student is the
:class:`~tsdyn.pruning.study.TrainedStudent` built from it.
"""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Iterator

from tsdyn.pruning.study import TrainedStudent
from tsdyn.seeds import REPLICA_DATA_SEED_BASE
from tsdyn.sweep.job import Job
from tsdyn.targets.training import training_job, training_name
from tsdyn.trajectory import Trajectory


# ------------------------------------------------------------ trained students
def run(results: dict[str, dict], name: str) -> Trajectory:
    """The training run ``name`` of a report's results, decoded (the one reader of a job's result)."""
    return Trajectory.from_arrays(results[name])


def students(cfg: dict, results: dict[str, dict]) -> Iterator[TrainedStudent]:
    """The trained students of a configuration, in (sigma, seed) order."""
    for sigma in cfg["sigmas"]:
        for seed in cfg["seeds"]:
            yield TrainedStudent.from_trajectory(run(results, training_name(cfg, sigma, seed)), sigma=sigma, seed=seed)


def runs(cfg: dict, results: dict[str, dict], sigma: float) -> list[Trajectory]:
    """The runs of every seed of ``cfg`` at label noise ``sigma``."""
    return [run(results, training_name(cfg, sigma, seed)) for seed in cfg["seeds"]]


def setting_config(cfg: dict, name: str) -> dict:
    """The configuration of target ``name``, read as ``cfg`` was (same sims folder, quick, seeds), so a
    target that reuses another's students asks for exactly its runs."""
    from tsdyn.sweep.config import load_config

    return load_config(name, Path(cfg["sims_dir"]), quick=cfg["quick"], seeds=cfg.get("seeds_override"))


# ------------------------------------------------------------ replicas
def replica_data_seeds(seed: int, replicas: int) -> list[int]:
    """The data seeds of ``replicas`` runs from the start of ``seed``: the run itself first, all distinct."""
    others = (d for d in itertools.count(REPLICA_DATA_SEED_BASE + 1) if d != int(seed))
    return [int(seed)] + list(itertools.islice(others, int(replicas) - 1))


def replica_jobs(cfg: dict, sigma: float, replicas: int) -> list[Job]:
    """Per seed of ``cfg``, ``replicas`` runs from its start, each on other data (SGD noise replicas).

    Replicas share a run's start and differ in their data only (``data_seed``);
    the first is the ordinary run (same job, same cache key as
    :func:`tsdyn.targets.training.training_jobs`), trained once.
    """
    return [training_job(cfg, sigma, seed, data_seed)
            for seed in cfg["seeds"] for data_seed in replica_data_seeds(seed, replicas)]


def replicas(cfg: dict, results: dict[str, dict], sigma: float, seed: int) -> list[Trajectory]:
    """The ``cfg["replicas"]`` runs from the start of ``seed``, the run itself first."""
    return [run(results, training_name(cfg, sigma, seed, ds)) for ds in replica_data_seeds(seed, cfg["replicas"])]
