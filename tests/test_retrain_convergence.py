"""Part 5 of issue 13: the convergence-in-N criterion (tsdyn.pruning.retrain_convergence), on synthetic gaps
and on real retraining runs, where the ODE passes and a wrong ODE fails."""
import itertools
import math

import numpy as np
import pytest

from tsdyn.dynamics.ode import integrate
from tsdyn.order_parameters import OrderParameters
from tsdyn.pruning.retrain import node_start, retrain_ode, retrain_order
from tsdyn.pruning.retrain_convergence import convergence_rows, convergence_verdicts
from tsdyn.sweep.config import find_sims_dir, load_config
from tsdyn.sweep.settings import Retrain

NS = (500, 2000, 8000)
STARTS = 16
#: SGD - ODE spread per start at N = 500 in figures/retrain_convergence.csv (s.e. 0.0035 over 16 starts at dt = 400), ~ 1/sqrt(N)
SPREAD_500 = 0.0035 * math.sqrt(STARTS)


def _synthetic(gap, seed: int) -> dict:
    """Differences SGD - ODE of STARTS starts per N: ``gap(N)`` plus Gaussian noise scaled like SGD's."""
    rng = np.random.default_rng(seed)
    return {((400.0,), N): gap(N) + SPREAD_500 * math.sqrt(500 / N) * rng.standard_normal(STARTS) for N in NS}


def _passes(diffs) -> bool:
    (verdict,) = convergence_verdicts(convergence_rows(diffs))
    return verdict["passes"]


def test_a_finite_n_correction_passes_and_a_constant_or_growing_gap_fails():
    # a correct ODE: SGD - ODE = c / N with c of the size seen at N = 500 (0.0045), plus noise
    assert sum(_passes(_synthetic(lambda N: 2.25 / N, s)) for s in range(40)) >= 36
    # an ODE bias of the size of the N = 500 noise stays at every N: it fails once the noise is small
    assert sum(_passes(_synthetic(lambda N: 0.006, s)) for s in range(40)) <= 4
    # a gap that grows with N fails too (condition 2 or condition 1 at the largest N)
    assert sum(_passes(_synthetic(lambda N: 0.002 * math.log2(N / 250), s)) for s in range(40)) <= 4


def test_rows_carry_the_bonferroni_limit_and_bad_input_is_refused():
    from scipy.stats import t as student_t

    rows = convergence_rows(_synthetic(lambda N: 0.0, 0), family_alpha=0.01)
    assert [r["N"] for r in rows] == list(NS)
    assert rows[0]["limit"] == pytest.approx(student_t.ppf(1 - 0.01 / 6, STARTS - 1))
    d = _synthetic(lambda N: 0.0, 0)[((400.0,), 500)]
    assert rows[0]["mean_diff"] == pytest.approx(d.mean()) and rows[0]["se"] == pytest.approx(d.std(ddof=1) / 4)
    with pytest.raises(ValueError, match="family_alpha must lie in"):
        convergence_rows(_synthetic(lambda N: 0.0, 0), family_alpha=1.5)
    with pytest.raises(ValueError, match=">= 2 starts"):
        convergence_rows({((1.0,), 500): [0.1], ((1.0,), 2000): [0.1, 0.2]})
    with pytest.raises(ValueError, match=">= 2 values of N"):
        convergence_verdicts(convergence_rows({((1.0,), 500): [0.1, 0.2]}))


@pytest.fixture(scope="module")
def pruned_runs():
    """8 pruned K' = 2 starts of an ODE-trained M = 2, K = 6 student, retrained by SGD at N = 250, 1000, 4000."""
    rng = np.random.default_rng(3)
    wstar, w = rng.standard_normal((2, 500)), rng.standard_normal((6, 500))
    op0 = OrderParameters.from_weights(w, rng.standard_normal(6), wstar, np.full(2, 4.0))
    traj = integrate(op0, tmax=1600.0)
    trained = OrderParameters(traj.Q[-1], traj.R[-1], op0.T, traj.v[-1], op0.vstar)
    pairs = list(itertools.combinations(range(6), 2))
    starts = [node_start(trained, np.array(pairs[i]), "none") for i in np.random.default_rng(0).permutation(15)[:8]]
    times = np.array([0.0, 50.0, 200.0])
    sgd = {(N, i): retrain_order(s, N=N, lr=0.5, sigma=0.0, times=times, seed=1000 * N + i)
           for N in (250, 1000, 4000) for i, s in enumerate(starts)}
    return starts, times, sgd


def _verdicts(pruned_runs, ode_lr):
    starts, times, sgd = pruned_runs
    ode = [retrain_ode(s, lr=ode_lr, sigma=0.0, times=times) for s in starts]
    diffs = {((float(dt),), N): [sgd[(N, i)][j] - ode[i][j] for i in range(len(starts))]
             for N in (250, 1000, 4000) for j, dt in enumerate(times) if dt > 0}
    return convergence_verdicts(convergence_rows(diffs))


def test_the_odes_of_retraining_pass_the_criterion(pruned_runs):
    assert all(v["passes"] for v in _verdicts(pruned_runs, 0.5))


@pytest.mark.parametrize("factor", [1.05, 0.95])
def test_a_wrong_ode_fails_the_criterion(pruned_runs, factor):
    # the ODE of a 5 % different rate: SGD converges to the right ODE, so the gap stays as N grows
    assert not any(v["passes"] for v in _verdicts(pruned_runs, 0.5 * factor))


def _raw():
    import tomllib

    with open(find_sims_dir(None) / "retrain.toml", "rb") as fh:
        return tomllib.load(fh)


@pytest.mark.parametrize("change, match", [
    (dict(student="K7"), "convergence.student must be one of"),
    (dict(kn=7), r"convergence.kn must be an integer in 1..K = 6"),
    (dict(seed=5), "convergence.seed and convergence.sigma must be one of the student's trained runs"),
    (dict(Ns=[4, 500]), r"convergence.Ns must be integers >= K' \+ M \+ 1 = 5"),
    (dict(Ns=[500, 500]), "Ns"),
    (dict(methods=["importance"]), "methods"),
    (dict(draws=1), "draws"),
    (dict(family_alpha=0.0), "family_alpha"),
])
def test_bad_convergence_settings_are_refused(change, match):
    raw = _raw()
    raw.pop("quick")
    raw["convergence"].update(change)
    with pytest.raises(ValueError, match=match):
        Retrain.model_validate(raw)


def test_the_sweep_config_has_the_check_and_its_quick_variant():
    cfg = load_config("retrain", find_sims_dir(None))
    quick = load_config("retrain", find_sims_dir(None), quick=True)
    assert cfg["convergence"]["Ns"] == [500, 2000, 8000] and cfg["convergence"]["draws"] >= 8
    assert len(quick["convergence"]["Ns"]) >= 2
    from tsdyn.targets import retrain as target

    names = [j.name for j in target.jobs(cfg) if j.name.startswith("retrain-convergence-")]
    assert len(names) == 2 * 8 * 3
