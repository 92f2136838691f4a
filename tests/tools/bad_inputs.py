"""Bad inputs to tsdyn's CLIs, its Python API and the sweep's TOMLs, and how each outcome is classified.

Used by ``tests/test_bad_inputs.py`` (in-process) and, to count outcomes per
class for any version of the code, run as a script::

    PYTHONPATH=/tmp/base python tests/tools/bad_inputs.py [--jobs 2]   # before (the old flat layout)
    PYTHONPATH=.         python tests/tools/bad_inputs.py [--jobs 2]   # after

Each case then runs in its own process with a timeout and is classified as
``clear`` (refused: non-zero exit or exception, one line naming the culprit,
no traceback), ``accepted`` (silently accepted), ``traceback``, ``misleading``
(refused, but the message does not name the culprit) or ``hang`` (timeout, or
memory exhausted: each case runs with its address space limited to
``MEMORY_LIMIT`` so that none can take the machine down).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve()
TIMEOUT_S = 60
MEMORY_LIMIT = 6 * 2**30


@dataclass(frozen=True)
class Case:
    id: str
    kind: str                 # "sweep", "simulate", "ode" (argv) or "api" (Python code)
    args: tuple | str
    culprit: tuple[str, ...]  # the message must name one of these (case-insensitive)
    files: dict = field(default_factory=dict)   # sweep: target -> TOML text, written to {sims}


FIG2A = 'M = 2\nK = 3\nN = 20\nlr = 0.5\nvstar = 4.0\nsteps = 200\nsigmas = [0.0]\nseeds = [0]\n'


# Complete, valid TOMLs of the targets whose cases below break one key each.
PATHKERNEL = ('sigmas = [0.0]\nseeds = [0]\nlayers = ["both"]\nscores = ["magnitude"]\nscore_samples = 10\n'
              'edge_masks = 1\ndpp_max_subsets = 10\n[students.K6]\nM = 2\nK = 6\nN = 20\nlr = 0.5\nvstar = 4.0\n'
              'steps = 100\nkn = [1]\n')
PRUNE_AT_INIT = ('M = 2\nN = 20\nlr = 0.5\nvstar = 4.0\nsigma = 0.0\nt_final = 1\nK = [3]\nbudgets = ["1/3"]\n'
                 'layers = ["both"]\nseeds = [0]\npruners = ["snip"]\nscore_samples = 10\niterative_rounds = 1\n'
                 'speed_times = [1]\nntk_samples = 5\n')
ODE_CONVERGENCE = ('M = 2\nK = 6\nlr = 0.5\nvstar = 4.0\nstart_N = 500\nstarts = [0]\nsigmas = [0.0]\n'
                   'Ns = [500, 2000]\nreplicas = 2\nt_final = 10.0\nslope_range = [-0.7, -0.3]\nfinal_N = 128000\n'
                   'final_median = 0.03\nfinal_max = 0.08\nexit_sigmas = [0.0]\nexit_Ns = [500, 2000]\n'
                   'exit_starts = 2\nexit_t_final = 20.0\nexit_per_decade = 10\nexit_fraction = 0.5\n'
                   'exit_tolerance = 0.2\n')
THEOREMS_ZC = ('students = [{ M = 2, Z = [1, 2] }]\nN = 100\nlr = 0.5\nvstar = 4.0\nsigmas = [0.0]\nseeds = [0]\n'
               't_first = 10.0\nt_paper = 20.0\nt_cap = 40.0\nper_decade = 5\ncos_min = 0.9\nv_min = 0.1\n'
               'max_subsets = 100\nalong_M = 2\nalong_Z = [2]\node_method = "RK45"\node_rtol = 1e-6\node_K_max = 12\n')


#: The packaged retrain TOML (complete and valid): each retrain case breaks one key of it.
RETRAIN = (Path(__file__).resolve().parents[2] / "tsdyn" / "sims" / "retrain.toml").read_text()
#: The packaged breadth TOML (issue 16), broken one key at a time likewise.
BREADTH = (Path(__file__).resolve().parents[2] / "tsdyn" / "sims" / "breadth.toml").read_text()


def toml_case(id, text, culprit, target="fig2a"):
    return Case(f"toml-{id}", "sweep", (target, "--sims", "{sims}", "--out", "{out}", "--serial", "--no-progress",
                                        "--no-cache"), (culprit,) if isinstance(culprit, str) else culprit,
                {target: text})


def fig2a(text="", drop=()):
    lines = [line for line in FIG2A.splitlines() if line.split(" =")[0] not in drop]
    return "\n".join(lines) + "\n" + text


TOML = [
    toml_case("typo-key", fig2a("seedz = [1]\n"), "seedz"),
    toml_case("typo-in-quick", fig2a("[quick]\nstepss = 10\n"), "stepss"),
    toml_case("typo-table", fig2a("[quik]\nN = 10\n"), "quik"),
    toml_case("bool-as-string", fig2a('train_second_layer = "false"\n'), "train_second_layer"),
    toml_case("float-N", fig2a("N = 100.5", drop=("N",)), "'N'"),
    toml_case("seeds-string", fig2a('seeds = "12"', drop=("seeds",)), "seeds"),
    toml_case("missing-lr", fig2a(drop=("lr",)), "lr"),
    toml_case("empty", "", ("missing", "'M'")),
    toml_case("quick-not-table", "quick = 5\n" + fig2a(), "quick"),
    toml_case("negative-N", fig2a("N = -100", drop=("N",)), "'N'"),
    toml_case("negative-seed", fig2a("seeds = [-1]", drop=("seeds",)), "seeds"),
    toml_case("K-below-M", fig2a("K = 1", drop=("K",)), "K"),
    toml_case("lr-zero", fig2a("lr = 0", drop=("lr",)), "lr"),
    toml_case("lr-string", fig2a('lr = "0.5"', drop=("lr",)), "lr"),
    toml_case("sigma-negative", fig2a("sigmas = [-0.1]", drop=("sigmas",)), "sigmas"),
    toml_case("sigmas-scalar", fig2a("sigmas = 0.0", drop=("sigmas",)), "sigmas"),
    toml_case("seeds-duplicate", fig2a("seeds = [0, 0]", drop=("seeds",)), "seeds"),
    toml_case("steps-zero", fig2a("steps = 0", drop=("steps",)), "steps"),
    toml_case("steps-float", fig2a("steps = 1.5e3", drop=("steps",)), "steps"),
    toml_case("vstar-string", fig2a('vstar = "4"', drop=("vstar",)), "vstar"),
    toml_case("N-bool", fig2a("N = true", drop=("N",)), "'N'"),
    toml_case("lr-nan", fig2a("lr = nan", drop=("lr",)), "lr"),
    toml_case("lr-inf", fig2a("lr = inf", drop=("lr",)), "lr"),
    toml_case("init-scale-zero", fig2a("init_scale = 0\n"), "init_scale"),
    toml_case("per-decade-zero", fig2a("per_decade = 0\n"), "per_decade"),
    toml_case("test-samples-negative", fig2a("test_samples = -1\n"), "test_samples"),
    toml_case("train-test-samples-float", fig2a("train_test_samples = 1.5\n"), "train_test_samples"),
    toml_case("syntax", fig2a("N = = 3\n"), ("not valid TOML", "fig2a.toml")),
    toml_case("quick-N-zero", fig2a("[quick]\nN = 0\n"), "'N'"),
    toml_case("quick-K-below-M", fig2a("[quick]\nK = 1\n"), "K"),
    toml_case("quick-seeds-empty", fig2a("[quick]\nseeds = []\n"), "seeds"),
    toml_case("seeds-empty", fig2a("seeds = []", drop=("seeds",)), "seeds"),
    toml_case("quick-N-string", fig2a('[quick]\nN = "100"\n'), "'N'"),
    toml_case("N-huge", fig2a("N = 10000000000", drop=("N",)), "'N'"),
    toml_case("sigmas-duplicate", fig2a("sigmas = [0.0, 0.0]", drop=("sigmas",)), "sigmas"),
    toml_case("unknown-meta-key", fig2a('target = "fig2b"\n'), "target"),
    toml_case("fig2b-edge-masks-zero", fig2a("edge_masks = 0\n"), "edge_masks", target="fig2b"),
    toml_case("fig2b-edge-masks-missing", fig2a(), "edge_masks", target="fig2b"),
    toml_case("fig2b-final-weights-needs-order", fig2a('edge_masks = 5\nfinal_weights = "in_law"\n'), "final_weights",
              target="fig2b"),
    toml_case("fig2b-final-weights-unknown", fig2a('edge_masks = 5\nengine = "order"\nfinal_weights = "random"\n'),
              "final_weights", target="fig2b"),
    toml_case("fig3-kn-above-K", fig2a("kn = 7\n"), "kn", target="fig3"),
    toml_case("fig3-kn-zero", fig2a("kn = 0\n"), "kn", target="fig3"),
    toml_case("fig4-Z-order", "Z_min = 10\nZ_max = 4\n", "Z_max", target="fig4"),
    toml_case("fig4-c-values-one", "c_values = 1\n", "c_values", target="fig4"),
    toml_case("fig4-c-values-bool", "c_values = true\n", "c_values", target="fig4"),
    toml_case("fig4-typo", "Zmax = 30\n", "Zmax", target="fig4"),
    toml_case("theorems-setting", 'settings = ["fig9"]\nZ_min = 4\nZ_max = 5\nc_values = 5\nM_max = 2\n',
              "settings", target="theorems"),
    toml_case("theorems-M-max", 'settings = ["fig2a"]\nZ_min = 4\nZ_max = 5\nc_values = 5\nM_max = 0\n',
              "M_max", target="theorems"),
    toml_case("ode-vs-sim-replicas", fig2a("replicas = 0\n"), "replicas", target="ode_vs_sim"),
    toml_case("pathkernel-score", PATHKERNEL.replace('"magnitude"', '"magnitud"'), "scores", target="pathkernel"),
    toml_case("pathkernel-kn", PATHKERNEL.replace("kn = [1]", "kn = [0]"), "kn", target="pathkernel"),
    toml_case("pathkernel-kn-beyond-K", PATHKERNEL.replace("kn = [1]", "kn = [7]"), "kn", target="pathkernel"),
    toml_case("pathkernel-typo", PATHKERNEL.replace("steps = 100", "stepz = 100"), "stepz", target="pathkernel"),
    toml_case("pathkernel-layers", PATHKERNEL.replace('layers = ["both"]', 'layers = ["second"]'), "layers",
              target="pathkernel"),
    toml_case("prune-at-init-speed-times", PRUNE_AT_INIT.replace("speed_times = [1]", "speed_times = [5]"),
              "speed_times", target="prune_at_init"),
    toml_case("prune-at-init-pruner", PRUNE_AT_INIT.replace('"snip"', '"snipp"'), "pruners", target="prune_at_init"),
    toml_case("prune-at-init-budget", PRUNE_AT_INIT.replace('"1/3"', '"4/3"'), "budgets", target="prune_at_init"),
    toml_case("ode-convergence-small-N", ODE_CONVERGENCE.replace("Ns = [500, 2000]", "Ns = [8, 2000]"), "Ns",
              target="ode_convergence"),
    toml_case("ode-convergence-fraction", ODE_CONVERGENCE.replace("exit_fraction = 0.5", "exit_fraction = 1.5"),
              "exit_fraction", target="ode_convergence"),
    toml_case("retrain-rank-dt", RETRAIN.replace("rank_dts = [10.0, 100.0, 400.0]", "rank_dts = [10.0, 500.0]"),
              "rank_dts", target="retrain"),
    toml_case("retrain-during-student", RETRAIN.replace('student = "K6"', 'student = "K7"'), "during.student",
              target="retrain"),
    toml_case("retrain-edge-kn", RETRAIN.replace("edge_kn = [2]", "edge_kn = [7]"), "edge_kn", target="retrain"),
    toml_case("retrain-t-total", RETRAIN.replace("t_total = 2000.0", "t_total = 1000.0"), "t_total", target="retrain"),
    toml_case("retrain-check-lr", RETRAIN.replace("check_lr = 0.05", "check_lr = -0.05"), "check_lr", target="retrain"),
    toml_case("retrain-check-alone", RETRAIN.replace("check_dt = 16000.0", ""), "check_dt", target="retrain"),
    toml_case("theorems-zc-K-beyond-20", THEOREMS_ZC.replace("Z = [1, 2]", "Z = [1, 11]"), "Z", target="theorems_zc"),
    toml_case("theorems-zc-t-paper", THEOREMS_ZC.replace("t_paper = 20.0", "t_paper = 30.0"), "t_paper",
              target="theorems_zc"),
    toml_case("theorems-zc-ode-K-max", THEOREMS_ZC.replace("ode_K_max = 12", "ode_K_max = 0"), "ode_K_max",
              target="theorems_zc"),
    toml_case("theorems-zc-cos-min", THEOREMS_ZC.replace("cos_min = 0.9", "cos_min = 1.5"), "cos_min",
              target="theorems_zc"),
    toml_case("breadth-activation-unknown", BREADTH.replace('"relu", "linear"]', '"relu", "tanh"]'), "activations",
              target="breadth"),
    toml_case("breadth-activation-mixed", BREADTH.replace('"relu", "linear"]', '"erf/relu"]'), "activations",
              target="breadth"),
    toml_case("breadth-activation-number", BREADTH.replace('"relu", "linear"]', '"relu", 3]'), "activations",
              target="breadth"),
    toml_case("breadth-schedule-garbled", BREADTH.replace('lr_schedule = "inverse:300"', 'lr_schedule = "inverse:"'),
              "lr_schedule", target="breadth"),
    toml_case("breadth-schedule-tau-negative",
              BREADTH.replace('lr_schedule = "inverse:300"', 'lr_schedule = "inverse:-5"'), "lr_schedule",
              target="breadth"),
    toml_case("breadth-schedule-constant",
              BREADTH.replace('lr_schedule = "inverse:300"', 'lr_schedule = "constant"'), "lr_schedule",
              target="breadth"),
    toml_case("breadth-sigma-zero", BREADTH.replace("sigma = 0.5", "sigma = 0.0"), "sigma", target="breadth"),
    toml_case("breadth-fit-range-beyond", BREADTH.replace("fit_range = [5000.0, 20000.0]", "fit_range = [5000.0, 30000.0]"),
              "fit_range", target="breadth"),
    toml_case("breadth-N-small", BREADTH.replace("Ns = [500, 5000, 20000]", "Ns = [3, 5000]"), "Ns", target="breadth"),
    toml_case("breadth-quick-typo", BREADTH.replace("[quick.annealing]", "[quick.anealing]"), "anealing",
              target="breadth"),
    toml_case("breadth-batch-zero", BREADTH.replace("[annealing]\n", "[annealing]\nbatch = 0\n"), "batch",
              target="breadth"),
    toml_case("breadth-weight-decay-negative", BREADTH.replace("[annealing]\n", "[annealing]\nweight_decay = -0.1\n"),
              "weight_decay", target="breadth"),
    toml_case("breadth-lr2-schedule-garbled", BREADTH.replace("[annealing]\n", '[annealing]\nlr2_schedule = "often"\n'),
              "lr2_schedule", target="breadth"),
    toml_case("breadth-replicas-zero", BREADTH.replace("replicas = 2", "replicas = 0"), "replicas", target="breadth"),
]


def sweep_cli(id, argv, culprit):
    return Case(f"sweep-{id}", "sweep", tuple(argv), (culprit,) if isinstance(culprit, str) else culprit, {"fig2a": FIG2A})


SWEEP = [
    sweep_cli("no-cache-and-cache", ["fig2a", "--sims", "{sims}", "--out", "{out}", "--no-cache", "--cache", "{out}/c"], "--cache"),
    sweep_cli("serial-and-workers", ["fig2a", "--sims", "{sims}", "--out", "{out}", "--serial", "--workers", "5"], "--workers"),
    sweep_cli("workers-zero", ["fig2a", "--sims", "{sims}", "--out", "{out}", "--workers", "0"], "--workers"),
    sweep_cli("workers-negative", ["fig2a", "--sims", "{sims}", "--out", "{out}", "--workers", "-1"], "--workers"),
    sweep_cli("workers-huge", ["fig2a", "--sims", "{sims}", "--out", "{out}", "--workers", "100000"], "--workers"),
    sweep_cli("seeds-zero", ["fig2a", "--sims", "{sims}", "--out", "{out}", "--serial", "--seeds", "0"], "seeds"),
    sweep_cli("seeds-negative", ["fig2a", "--sims", "{sims}", "--out", "{out}", "--serial", "--seeds=-1"], "seeds"),
    sweep_cli("seeds-gap", ["fig2a", "--sims", "{sims}", "--out", "{out}", "--serial", "--seeds", "1,,2"], "seeds"),
    sweep_cli("seeds-huge", ["fig2a", "--sims", "{sims}", "--out", "{out}", "--serial", "--seeds", "1000000000"], "seeds"),
    sweep_cli("seeds-word", ["fig2a", "--sims", "{sims}", "--out", "{out}", "--serial", "--seeds", "abc"], "seeds"),
    sweep_cli("seeds-duplicate", ["fig2a", "--sims", "{sims}", "--out", "{out}", "--serial", "--seeds", "1,1"], "seeds"),
    sweep_cli("seeds-float", ["fig2a", "--sims", "{sims}", "--out", "{out}", "--serial", "--seeds", "2.5"], "seeds"),
    sweep_cli("unknown-target", ["fig9", "--sims", "{sims}", "--out", "{out}"], "fig9"),
    sweep_cli("sims-missing", ["fig2a", "--sims", "{out}/nowhere", "--out", "{out}"], "--sims"),
    sweep_cli("out-unwritable", ["fig2a", "--sims", "{sims}", "--out", "/proc/tsdyn-out", "--serial", "--no-cache"], "--out"),
    sweep_cli("out-is-file", ["fig2a", "--sims", "{sims}", "--out", "{sims}/fig2a.toml", "--serial", "--no-cache"], "--out"),
    sweep_cli("list-with-target", ["--list", "fig2a"], "--list"),
    sweep_cli("serial-and-dask", ["fig2a", "--sims", "{sims}", "--out", "{out}", "--serial", "--dask-scheduler", "tcp://127.0.0.1:1"], "--dask-scheduler"),
    sweep_cli("dask-and-workers", ["fig2a", "--sims", "{sims}", "--out", "{out}", "--workers", "2", "--dask-scheduler", "tcp://127.0.0.1:1"], "--workers"),
    sweep_cli("workers-word", ["fig2a", "--sims", "{sims}", "--out", "{out}", "--workers", "two"], "--workers"),
]


def sim(id, argv, culprit):
    out = () if "--out" in argv else ("--out", "{out}/sim")
    return Case(f"simulate-{id}", "simulate", tuple(argv) + out + ("--no-progress",),
                (culprit,) if isinstance(culprit, str) else culprit)


SIMULATE = [
    sim("N-zero", ["--N", "0"], "N"), sim("N-negative", ["--N=-5"], "N"), sim("K-below-M", ["--K", "1"], "K"),
    sim("M-zero", ["--M", "0"], "M"), sim("lr-zero", ["--lr", "0"], "lr"), sim("lr-negative", ["--lr=-1"], "lr"),
    sim("lr-word", ["--lr", "abc"], "--lr"), sim("steps-float", ["--steps", "1e20"], "--steps"),
    sim("steps-negative", ["--steps=-1"], "steps"), sim("sigma-negative", ["--sigma=-1"], "sigma"),
    sim("init-scale-zero", ["--init-scale", "0"], "init_scale"), sim("per-decade-zero", ["--per-decade", "0"], "per_decade"),
    sim("test-samples-negative", ["--test-samples=-1"], "test_samples"),
    sim("test-samples-huge", ["--test-samples", "100000000000"], "test_samples"),
    sim("N-huge", ["--N", "10000000000"], "N ="), sim("out-unwritable", ["--steps", "10", "--out", "/proc/tsdyn/x"], "--out"),
    sim("vstar-length", ["--vstar", "1", "2", "3"], "vstar"), sim("seed-negative", ["--seed=-1"], "seed"),
    sim("data-seed-negative", ["--data-seed=-1"], "data_seed"), sim("lr-nan", ["--lr", "nan"], "lr"),
    sim("lr-inf", ["--lr", "inf"], "lr"), sim("N-float", ["--N", "100.5"], "--N"),
    sim("activation-unknown", ["--activation", "tanh"], "--activation"),
    sim("activation-pair-unknown", ["--activation", "erf/tanh"], "--activation"),
    sim("weight-decay-negative", ["--weight-decay=-0.1"], "--weight-decay"),
    sim("weight-decay-nan", ["--weight-decay", "nan"], "--weight-decay"),
    sim("batch-zero", ["--batch", "0"], "--batch"), sim("batch-word", ["--batch", "two"], "--batch"),
    sim("lr-schedule-garbled", ["--lr-schedule", "inverse"], "--lr-schedule"),
    sim("lr-schedule-tau-zero", ["--lr-schedule", "inverse:0"], "--lr-schedule"),
    sim("lr-schedule-times-unsorted", ["--lr-schedule", "piecewise:1,20:0.5,10:0.2"], "--lr-schedule"),
    sim("lr2-schedule-garbled", ["--lr2-schedule", "sometimes"], "--lr2-schedule"),
]


def ode(id, argv, culprit, init="{init}"):
    return Case(f"ode-{id}", "ode", ("--init", init, "--out", "{out}/ode", "--no-progress") + tuple(argv),
                (culprit,) if isinstance(culprit, str) else culprit)


ODE = [
    ode("times-gap", ["--times", "1,,2"], "--times"), ode("times-words", ["--times", "a,b"], "--times"),
    ode("times-unsorted", ["--times", "2,1"], "times"), ode("times-negative", ["--times=-1,2"], "times"),
    ode("times-nan", ["--times", "1,nan"], "times"), ode("rtol-huge", ["--rtol", "1e10"], "rtol"),
    ode("rtol-zero", ["--rtol", "0"], "rtol"), ode("atol-negative", ["--atol=-1"], "atol"),
    ode("tmax-zero", ["--tmax", "0"], "tmax"), ode("tmax-negative", ["--tmax=-5"], "tmax"),
    ode("tmax-nan", ["--tmax", "nan"], "tmax"), ode("init-missing", [], "--init", init="{out}/missing.npz"),
    ode("init-truncated", [], "--init", init="{trunc}"), ode("init-text", [], "--init", init="{text}"),
    ode("lr-zero", ["--lr", "0"], "lr"), ode("sigma-negative", ["--sigma=-1"], "sigma"),
    ode("euler-dt-zero", ["--euler-dt", "0"], "euler_dt"), ode("euler-dt-negative", ["--euler-dt=-1"], "euler_dt"),
    ode("per-decade-zero", ["--tmax", "10", "--per-decade", "0"], "per_decade"),
    ode("out-unwritable", ["--out", "/proc/tsdyn/x"], "--out"), ode("times-and-tmax", ["--times", "1,2", "--tmax", "5"], "--tmax"),
    ode("euler-and-rtol", ["--euler-dt", "0.1", "--rtol", "1e-6"], "--rtol"),
    ode("tmax-huge", ["--tmax", "1e300"], "tmax"),
    ode("activation-unknown", ["--activation", "tanh"], "--activation"),
    ode("activation-mixed-no-ode", ["--activation", "erf/relu"], "activation"),
    ode("weight-decay-negative", ["--weight-decay=-1"], "--weight-decay"),
    ode("batch-zero", ["--batch", "0"], "--batch"),
    ode("lr-schedule-garbled", ["--lr-schedule", "piecewise:1,2"], "--lr-schedule"),
    ode("lr2-schedule-factor-negative", ["--lr2-schedule", "piecewise:1,5:-1"], "--lr2-schedule"),
]

PRELUDE = """
import numpy as np
from tsdyn.simulate import simulate
from tsdyn.order_parameters import OrderParameters
try:
    from tsdyn.dynamics.ode import integrate
    from tsdyn.pruning import operators as P
    from tsdyn.pruning import dpp as D
except ImportError:                         # the flat layout before the reorganisation
    from tsdyn.ode import integrate
    from tsdyn import pruning as P, dpp as D
rng = np.random.default_rng(0)
w, wstar, v = rng.standard_normal((4, 30)), rng.standard_normal((2, 30)), rng.standard_normal(4)
OP = OrderParameters.from_weights(w, v, wstar, np.array([1.0, 1.0]))
"""


def api(id, code, culprit):
    return Case(f"api-{id}", "api", code, (culprit,) if isinstance(culprit, str) else culprit)


SMALL = "N=20, steps=40, "
API = [
    api("simulate-N-bool", "simulate(N=True, steps=10)", "N"), api("simulate-N-float", "simulate(N=100.5, steps=10)", "N"),
    api("simulate-lr-string", f"simulate({SMALL}lr='0.5')", "lr"),
    api("simulate-train-v-string", f"simulate({SMALL}train_second_layer='no')", "train_second_layer"),
    api("simulate-train-v-int", f"simulate({SMALL}train_second_layer=1)", "train_second_layer"),
    api("simulate-K-below-M", f"simulate({SMALL}K=1)", "K"), api("simulate-steps-negative", "simulate(N=20, steps=-1)", "steps"),
    api("simulate-seed-negative", f"simulate({SMALL}seed=-1)", "seed"), api("simulate-sigma-negative", f"simulate({SMALL}sigma=-0.1)", "sigma"),
    api("simulate-mask-float", f"simulate({SMALL}mask=np.full((6, 20), 0.3))", "mask"),
    api("simulate-mask-shape", f"simulate({SMALL}mask=np.ones((6, 5), bool))", "mask"),
    api("simulate-times-strings", f"simulate({SMALL}times=['a'])", "times"),
    api("simulate-times-unsorted", f"simulate({SMALL}times=[1.5, 1.0])", "times"),
    api("simulate-times-negative", f"simulate({SMALL}times=[-1.0])", "times"),
    api("simulate-test-samples-huge", f"simulate({SMALL}test_samples=10**11)", "test_samples"),
    api("simulate-N-huge", "simulate(N=10**10, steps=1)", "N ="), api("simulate-init-scale-zero", f"simulate({SMALL}init_scale=0)", "init_scale"),
    api("simulate-per-decade-zero", f"simulate({SMALL}per_decade=0)", "per_decade"),
    api("simulate-lr-bool", f"simulate({SMALL}lr=True)", "lr"),
    api("integrate-train-v-string", "integrate(OP, tmax=1, train_second_layer='no')", "train_second_layer"),
    api("integrate-rtol-huge", "integrate(OP, tmax=1, rtol=1e10)", "rtol"), api("integrate-rtol-zero", "integrate(OP, tmax=1, rtol=0)", "rtol"),
    api("integrate-method", "integrate(OP, tmax=1, method='euler')", "method"),
    api("integrate-times-empty", "integrate(OP, times=[])", "times"), api("integrate-times-string", "integrate(OP, times='1,2')", "times"),
    api("integrate-lr-bool", "integrate(OP, tmax=1, lr=True)", "lr"), api("integrate-euler-zero", "integrate(OP, tmax=1, euler_dt=0)", "euler_dt"),
    api("integrate-tmax-negative", "integrate(OP, tmax=-1)", "tmax"), api("integrate-sigma-string", "integrate(OP, tmax=1, sigma='0')", "sigma"),
    api("integrate-times-unsorted", "integrate(OP, times=[2.0, 1.0])", "times"),
    api("integrate-atol-string", "integrate(OP, tmax=1, atol='1e-8')", "atol"),
    api("subset-eg-negative", "P.subset_eg(OP, [[-1, 0]])", "subsets"), api("subset-eg-duplicate", "P.subset_eg(OP, [[0, 0]])", "subsets"),
    api("subset-eg-float", "P.subset_eg(OP, [[0.5, 1.0]])", "subsets"), api("subset-eg-out-of-range", "P.subset_eg(OP, [[0, 9]])", "subsets"),
    api("subset-eg-reweight", "P.subset_eg(OP, [[0, 1]], reweight='optimall')", "reweight"),
    api("subset-eg-bool", "P.subset_eg(OP, [[True, False]])", "subsets"),
    api("node-pruned-bool-keep", "P.node_pruned(OP, [True, False])", "keep"), api("node-pruned-duplicate", "P.node_pruned(OP, [0, 0])", "keep"),
    api("prune-op-out-of-range", "P.prune_order_parameters(OP, [7])", "keep"),
    api("edge-mask-float", "P.prune_student_edges(w, v, wstar, np.ones(2), np.full(w.shape, 0.3))", "mask"),
    api("edge-mask-shape", "P.prune_student_edges(w, v, wstar, np.ones(2), np.ones((4, 3), bool))", "mask"),
    api("edge-reweight", "P.prune_student_edges(w, v, wstar, np.ones(2), np.ones(w.shape, bool), reweight='optimal')", "reweight"),
    api("select-nodes-rng", "P.select_nodes('dpp', 2, OP, rng=5)", "rng"),
    api("select-random-too-many", "P.select_random(4, 5, rng)", "k"), api("select-random-negative", "P.select_random(4, -1, rng)", "k"),
    api("bernoulli-c", "P.bernoulli_edge_mask(4, 10, 1.5, rng)", "c"), api("matched-edge-kn", "P.matched_edge_count(7, 6, 100)", "k_n"),
    api("kdpp-k-too-large", "D.sample_kdpp(OP.Q, 10, rng)", "k"), api("select-random-k-bool", "P.select_random(4, True, rng)", "k"),
]

CASES = TOML + SWEEP + SIMULATE + ODE + API


# ------------------------------------------------------------------ running a case
def prepare(case: Case, tmp: Path) -> dict:
    """Files a case refers to, in ``tmp``: {sims}, {out}, {init}, {trunc}, {text}."""
    sims, out = tmp / "sims", tmp / "out"
    sims.mkdir(exist_ok=True)
    out.mkdir(exist_ok=True)
    for target, text in case.files.items():
        (sims / f"{target}.toml").write_text(text)
    places = dict(sims=str(sims), out=str(out), init=str(tmp / "state.npz"), trunc=str(tmp / "trunc.npz"),
                  text=str(tmp / "text.npz"))
    if case.kind == "ode":
        import numpy as np
        rng = np.random.default_rng(0)
        w, ws = rng.standard_normal((3, 40)), rng.standard_normal((2, 40))
        Q, R, T = w @ w.T / 40, w @ ws.T / 40, ws @ ws.T / 40
        np.savez(places["init"], Q=Q, R=R, T=T, v=rng.standard_normal(3), vstar=np.ones(2))
        Path(places["trunc"]).write_bytes(Path(places["init"]).read_bytes()[:100])
        Path(places["text"]).write_text("not a state\n")
    return places


def run_case(case: Case, tmp: Path) -> tuple[int | str, str]:
    """Run ``case`` in this process: (exit code, or the exception type, or "ok"; what it printed or raised)."""
    places = prepare(case, tmp)
    if case.kind == "api":
        scope: dict = {}
        exec(PRELUDE, scope)
        try:
            exec(case.args, scope)
        except Exception as exc:  # noqa: BLE001 - classified below
            return type(exc).__name__, str(exc)
        return "ok", ""
    argv = [a.format(**places) for a in case.args]
    module = {"sweep": "tsdyn.sweep.__main__", "simulate": "tsdyn.simulate", "ode": "tsdyn.ode"}[case.kind]
    main = __import__(module, fromlist=["main"]).main
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except Exception:  # noqa: BLE001 - an escaped exception is a traceback to the user
            import traceback
            traceback.print_exc()
            code = 1
    return code, err.getvalue()


def message_line(case: Case, text: str) -> str:
    """The line a user reads: the last non-empty line of stderr (or the exception's message)."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("  warnings.warn")]
    return lines[-1] if lines else ""


def classify(case: Case, outcome, text: str) -> str:
    """``clear``, ``accepted``, ``traceback``, ``misleading`` or ``hang`` (memory exhausted)."""
    if outcome == "MemoryError" or "MemoryError" in text:
        return "hang"
    if outcome in ("ok", 0):
        return "accepted"
    if "Traceback" in text or (case.kind == "api" and outcome not in ("ValueError", "DivergenceError", "TypeError")):
        return "traceback"
    line = message_line(case, text)
    one_line = case.kind != "api" or "\n" not in text.strip()
    named = any(c.lower() in line.lower() for c in case.culprit)
    return "clear" if named and one_line else "misleading"


def _child(index: int) -> None:
    case = CASES[index]
    with tempfile.TemporaryDirectory() as tmp:
        outcome, text = run_case(case, Path(tmp))
    print(json.dumps({"outcome": outcome, "text": text[-2000:]}))


def _limit_memory() -> None:
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def count(python: str = sys.executable, jobs: int = 1) -> dict:
    """Run every case in a subprocess (``jobs`` at a time, each with a timeout); return ``{class: [case ids]}``."""
    from concurrent.futures import ThreadPoolExecutor

    def one(i: int) -> str:
        case = CASES[i]
        try:
            proc = subprocess.run([python, str(HERE), "--child", str(i)], capture_output=True, text=True,
                                  timeout=TIMEOUT_S, env={**os.environ, "PYTHONWARNINGS": "ignore"},
                                  preexec_fn=_limit_memory)
        except subprocess.TimeoutExpired:
            return "hang"
        try:
            got = json.loads(proc.stdout.strip().splitlines()[-1])
            return classify(case, got["outcome"], got["text"])
        except (IndexError, json.JSONDecodeError):
            return "hang" if proc.returncode < 0 else "traceback"   # killed (OOM) or crashed outright

    classes: dict[str, list[str]] = {k: [] for k in ("clear", "accepted", "traceback", "misleading", "hang")}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for case, cls in zip(CASES, pool.map(one, range(len(CASES)))):
            classes[cls].append(case.id)
            print(f"{cls:<10} {case.id}", file=sys.stderr, flush=True)
    return classes


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        _child(int(sys.argv[2]))
    else:
        result = count(jobs=int(sys.argv[sys.argv.index("--jobs") + 1]) if "--jobs" in sys.argv else 1)
        print(json.dumps({k: len(v) for k, v in result.items()}))
        print(json.dumps(result, indent=1))
