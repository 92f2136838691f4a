"""Do the two SGD engines retrain a node-pruned start alike? (issue 13, part 1; figures/retrain_engines.csv had 4 replicas)

One pruned start (the importance-pruned K' = M student of the retrain target's first student, sigma and seed,
no reweighting) is retrained ``--replicas`` times by the order-parameter engine (from the kept order parameters)
and by the weights engine (from the kept rows of w), with the replica seeds of
:func:`tsdyn.pruning.retrain_study.engine_pair`, and once by the ODE. Prints mean +- s.e. per engine and the
difference in s.e. at each record time near 1, 10, 100, 400, and writes ``--csv``.

    PYTHONPATH=$PWD python tools/retrain_engines.py --cache /tmp/retrain_base/.cache --replicas 50
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import csv
import math
from pathlib import Path

import numpy as np


def _student():
    from tsdyn.sweep.config import find_sims_dir, load_config
    from tsdyn.targets.retrain import _students
    from tsdyn.targets.training import training_job

    cfg = load_config("retrain", find_sims_dir(None))
    st = _students(cfg)[cfg["during"]["student"]]
    return cfg, st, training_job(st, float(st["sigmas"][0]), int(st["seeds"][0]))


def _one(args):
    engine, r, cache_root = args
    from tsdyn.pruning.retrain import node_start, node_start_weights, retrain_order, retrain_weights, retrain_times
    from tsdyn.pruning.retrain_study import run_seed
    from tsdyn.pruning.study import TrainedStudent
    from tsdyn.sweep.cache import Cache
    from tsdyn.trajectory import Trajectory

    cfg, st, job = _student()
    result = Cache(cache_root).load(job)
    if result is None:
        raise SystemExit(f"training run {job.name} is not in the cache {cache_root}: run the retrain target first")
    student = TrainedStudent.from_trajectory(Trajectory.from_arrays(result), sigma=job.params["sigma"],
                                             seed=job.params["seed"])
    times = retrain_times(cfg["dt_max"], N=st["N"], per_decade=cfg["per_decade"])
    keep = np.sort(np.argsort(-np.abs(student.v))[:st["M"]])
    op = student.params
    start = node_start(op, keep, "none")
    seed = run_seed(student, 99, len(keep), r)
    if engine == "order":
        eg = retrain_order(start, N=st["N"], lr=st["lr"], sigma=student.sigma, times=times, seed=seed)
    elif engine == "weights":
        w, v = node_start_weights(student.w, op, keep, "none")
        eg = retrain_weights(w, v, student.wstar, student.vstar, lr=st["lr"], sigma=student.sigma, times=times,
                             seed=seed)
    else:
        from tsdyn.pruning.retrain import retrain_ode
        eg = retrain_ode(start, lr=st["lr"], sigma=student.sigma, times=times)
    return engine, r, times, eg


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--cache", required=True)
    p.add_argument("--replicas", type=int, default=50)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--csv", default="figures/retrain_engines_replicas.csv")
    args = p.parse_args()
    tasks = [("ode", 0, args.cache)] + [(e, r, args.cache) for r in range(args.replicas) for e in ("order", "weights")]
    with cf.ProcessPoolExecutor(args.workers) as pool:
        found = list(pool.map(_one, tasks))
    times = found[0][2]
    rows = [dict(engine=e, replica=r, dt=float(t), eg=float(x)) for e, r, _, eg in found for t, x in zip(times, eg)]
    with open(args.csv, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for d in (1.0, 10.0, 100.0, 400.0):
        i = int(np.argmin(np.abs(times - d)))
        vals = {e: np.array([eg[i] for ee, _, _, eg in found if ee == e]) for e in ("ode", "order", "weights")}
        (mo, so), (mw, sw) = ((v.mean(), v.std(ddof=1) / math.sqrt(len(v))) for v in (vals["order"], vals["weights"]))
        print(f"dt = {times[i]:g}: ODE {vals['ode'][0]:.4g}, order {mo:.4g} +- {so:.2g}, weights {mw:.4g} +- {sw:.2g}, "
              f"(order - weights) / s.e. = {(mo - mw) / math.hypot(so, sw):.2f}  [{len(vals['order'])} replicas each]")


if __name__ == "__main__":
    main()
