"""The model-breadth options on the command lines and in the sweep's TOMLs (issue 16, part 5).

The command lines must forward every option to the function they wrap: each test compares a CLI run
with the API called directly with the same options and with the default run (which must differ, so a
dropped option fails the test). Default command lines and default TOMLs pass nothing new: every
existing job keeps its cache key.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pytest

from tsdyn.cli_options import add_breadth_arguments, breadth_options
from tsdyn.dynamics.ode import integrate
from tsdyn.dynamics.ode import main as ode_main
from tsdyn.dynamics.schedules import Schedule
from tsdyn.simulate import main as simulate_main, simulate
from tsdyn.targets.training import breadth_params, training_job, training_name

sys.path.insert(0, str(Path(__file__).parent))
from breadth_api import needs_engines, needs_ode  # noqa: E402


def _csv(path) -> dict[str, np.ndarray]:
    data = np.genfromtxt(path, delimiter=",", names=True)
    return {name: data[name] for name in data.dtype.names}


def _parse(argv):
    return add_breadth_arguments(argparse.ArgumentParser()).parse_args(argv)


def test_default_options_pass_nothing_and_set_ones_are_canonical():
    assert breadth_options(_parse([])) == {}
    got = breadth_options(_parse(["--activation", "relu/relu", "--weight-decay", "0.1", "--batch", "4",
                                  "--lr-schedule", "inverse:20", "--lr2-schedule", "constant"]))
    assert got == dict(activation="relu", weight_decay=0.1, batch=4, lr_schedule=Schedule("inverse", tau=20.0),
                       lr2_schedule=Schedule())
    # A constant first-layer schedule is the default; a constant second-layer one is not (it overrides --lr-schedule).
    assert breadth_options(_parse(["--lr-schedule", "constant"])) == {}


@pytest.mark.parametrize("argv,option", [(["--activation", "sigmoid"], "--activation"),
                                         (["--weight-decay=-1"], "--weight-decay"), (["--batch", "0"], "--batch"),
                                         (["--lr-schedule", "inverse:x"], "--lr-schedule"),
                                         (["--lr2-schedule", "piecewise:1,3"], "--lr2-schedule")])
def test_bad_options_are_refused_in_one_line_naming_them(argv, option):
    with pytest.raises(ValueError) as err:
        breadth_options(_parse(argv))
    assert str(err.value).startswith(option) and "\n" not in str(err.value)


def test_the_ode_refuses_the_pair_it_cannot_reduce_before_any_work():
    assert breadth_options(_parse(["--activation", "erf/relu"])) == dict(activation="erf/relu")
    with pytest.raises(ValueError, match="--activation erf/relu"):
        breadth_options(_parse(["--activation", "erf/relu"]), ode=True)


OPTIONS = ["--activation", "linear", "--weight-decay", "0.2", "--batch", "3", "--lr-schedule", "inverse:2",
           "--lr2-schedule", "piecewise:1,1:0.5"]
KWARGS = dict(activation="linear", weight_decay=0.2, batch=3, lr_schedule="inverse:2", lr2_schedule="piecewise:1,1:0.5")


@needs_engines
def test_simulate_cli_forwards_every_option(tmp_path):
    common = dict(N=60, M=2, K=2, vstar=1.0, steps=300, seed=3, engine="order")
    argv = ["--N", "60", "--M", "2", "--K", "2", "--vstar", "1", "--steps", "300", "--seed", "3", "--engine", "order",
            "--no-progress", "--out", str(tmp_path / "run")]
    assert simulate_main(argv + OPTIONS) == 0
    written = _csv(tmp_path / "run.csv")
    direct = simulate(**common, **KWARGS)
    np.testing.assert_allclose(written["eg"], direct.eg, rtol=1e-12)
    assert not np.allclose(direct.eg, simulate(**common).eg)      # the options change the run
    assert direct.info["activation"] == "linear" and direct.info["batch"] == 3


@needs_ode
def test_ode_cli_forwards_every_option(tmp_path):
    start = simulate(N=100, M=2, K=2, vstar=1.0, steps=0, seed=1)
    start.save_npz(tmp_path / "start.npz")
    argv = ["--init", str(tmp_path / "start.npz"), "--out", str(tmp_path / "ode"), "--times", "0,0.5,1,2,4",
            "--no-progress"]
    assert ode_main(argv + OPTIONS) == 0
    written = _csv(tmp_path / "ode.csv")
    times = [0.0, 0.5, 1.0, 2.0, 4.0]
    direct = integrate(start.initial, times=times, **KWARGS)
    np.testing.assert_allclose(written["eg"], direct.eg, rtol=1e-12)
    assert not np.allclose(direct.eg[1:], integrate(start.initial, times=times).eg[1:])


def test_training_jobs_keep_their_keys_unless_an_option_is_set():
    cfg = dict(N=100, M=2, K=2, lr=0.5, vstar=1.0, steps=100, engine="order")
    plain = training_job(cfg, 0.0, 0)
    defaults = training_job({**cfg, "activation": "erf", "weight_decay": 0, "batch": 1, "lr_schedule": "constant"}, 0.0, 0)
    assert plain.key() == defaults.key() and plain.name == defaults.name
    assert "activation" not in plain.params and "lr_schedule" not in plain.params
    relu = training_job({**cfg, "activation": "relu", "lr_schedule": "inverse:10.0", "batch": 2}, 0.0, 0)
    assert relu.key() != plain.key() and relu.name == training_name(cfg, 0.0, 0) + "-relu-B2-lrinverse10"
    assert breadth_params({**cfg, "activation": "relu/relu", "lr_schedule": "inverse:10.0"}) == dict(
        activation="relu", lr_schedule="inverse:10")
