"""The online-SGD simulator against hand-written updates, closed forms and its own contract.

The reference computations below rebuild the networks and inputs from the
documented random streams (SeedSequence(seed).spawn(6); chunk c of a stream is
drawn from its c-th child) with plain numpy and scipy, independently of the
simulator's code.
"""
import math
import subprocess
import sys

import numpy as np
import pytest
from scipy.special import erf

from tsdyn.checks import DivergenceError
from tsdyn.eg import eg
from tsdyn.simulate import main, simulate


# ---------------------------------------------------------------- independent reference
def documented_start(seed, N, M, K, n_inputs):
    """Teacher, student and the first n_inputs inputs / label noises (all within chunk 0)."""
    teacher, student, inputs, noise, _, _ = np.random.SeedSequence(seed).spawn(6)
    wstar = np.random.default_rng(teacher).standard_normal((M, N))
    rng = np.random.default_rng(student)
    w = rng.standard_normal((K, N))
    v = rng.standard_normal(K)
    X = np.random.default_rng(inputs.spawn(1)[0]).standard_normal((n_inputs, N))
    zeta = np.random.default_rng(noise.spawn(1)[0]).standard_normal(n_inputs)
    return wstar, w, v, X, zeta


def act(x):
    return erf(x / math.sqrt(2))


def act_prime(x):
    return math.sqrt(2 / math.pi) * np.exp(-x**2 / 2)


def hand_sgd(w, v, wstar, vstar, X, zeta, lr, lr2, sigma):
    """The update of NOTES.md, one input at a time, written out with numpy."""
    w, v = w.copy(), v.copy()
    N = w.shape[1]
    for x, z in zip(X, zeta):
        lam, nu = w @ x / math.sqrt(N), wstar @ x / math.sqrt(N)
        delta = v @ act(lam) - vstar @ act(nu) - sigma * z
        w_new = w - (lr / math.sqrt(N)) * delta * np.outer(v * act_prime(lam), x)
        v = v - (lr2 / N) * delta * act(lam)
        w = w_new
    return w, v


# ---------------------------------------------------------------- the update itself
@pytest.mark.parametrize("steps", [1, 3])
def test_sgd_steps_match_hand_computed_update_with_both_scalings(steps):
    N, M, K, lr, lr2, sigma, seed = 50, 2, 3, 0.7, 0.3, 0.5, 3
    vstar = np.array([1.5, -2.0])
    traj = simulate(N=N, M=M, K=K, lr=lr, lr2=lr2, sigma=sigma, vstar=vstar, steps=steps, seed=seed)
    wstar, w0, v0, X, zeta = documented_start(seed, N, M, K, steps)
    w_ref, v_ref = hand_sgd(w0, v0, wstar, vstar, X, zeta, lr, lr2, sigma)
    np.testing.assert_array_equal(traj.wstar, wstar)
    np.testing.assert_allclose(traj.w, w_ref, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(traj.v[-1], v_ref, rtol=1e-12, atol=1e-13)
    # Both layers really moved, each by its own rate: swapping the scalings would break the match.
    assert np.max(np.abs(traj.w - w0)) > 1e-3 and np.max(np.abs(traj.v[-1] - v0)) > 1e-4


def test_initial_record_is_the_exact_state_of_the_initial_weights():
    N, M, K, seed = 80, 2, 4, 7
    traj = simulate(N=N, M=M, K=K, steps=400, seed=seed)
    wstar, w0, v0, _, _ = documented_start(seed, N, M, K, 0)
    Q0, R0, T = w0 @ w0.T / N, w0 @ wstar.T / N, wstar @ wstar.T / N
    assert traj.times[0] == 0.0
    np.testing.assert_allclose(traj.Q[0], Q0, rtol=1e-13)
    np.testing.assert_allclose(traj.initial.R, R0, rtol=1e-13, atol=1e-15)
    assert traj.eg[0] == pytest.approx(eg(Q0, R0, T, v0, np.full(M, 4.0)), rel=1e-12)


def test_recorded_order_parameters_are_those_of_the_weights_at_that_time():
    N, steps = 60, 300
    traj = simulate(N=N, M=2, K=3, steps=steps, seed=2, times=[0.0, 2.0])
    short = simulate(N=N, M=2, K=3, steps=120, seed=2)          # same stream, stops at t = 2
    np.testing.assert_allclose(traj.Q[1], short.w @ short.w.T / N, rtol=1e-13)
    np.testing.assert_allclose(traj.R[-1], traj.w @ traj.wstar.T / N, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(traj.eg[-1], eg(traj.Q[-1], traj.R[-1], traj.T, traj.v[-1], traj.vstar), rtol=1e-13)


def test_record_times_are_rounded_to_steps_and_include_both_ends():
    traj = simulate(N=100, steps=100, seed=0, times=[0.013, 0.5])
    np.testing.assert_array_equal(traj.times, [0.0, 0.01, 0.5, 1.0])
    default = simulate(N=100, steps=16_000, seed=0, per_decade=5)
    assert default.times[0] == 0 and default.times[-1] == 160
    steps = np.array(default.info["record_steps"])
    assert np.all(np.diff(steps) > 0) and np.array_equal(default.times, steps / 100)
    ratios = default.times[2:] / default.times[1:-1]
    assert len(steps) > 15 and np.all(ratios < 2.6) and np.all(ratios > 1.2)    # log-spaced, 5 per decade


# ---------------------------------------------------------------- reproducibility
def test_same_seed_is_bitwise_identical_and_other_seeds_differ():
    kw = dict(N=100, M=2, K=4, steps=3000, sigma=0.2, test_samples=500)
    a, b, c = simulate(seed=5, **kw), simulate(seed=5, **kw), simulate(seed=6, **kw)
    for name in ("times", "eg", "Q", "R", "v", "w", "wstar", "test_mse"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert not np.any(a.w == c.w) and not np.any(a.wstar == c.wstar)
    assert np.all(a.eg[1:] != c.eg[1:])


def test_data_seed_keeps_the_start_and_changes_only_the_data():
    kw = dict(N=100, M=2, K=4, steps=3000, sigma=0.2, seed=5)
    default, same, replica = simulate(**kw), simulate(data_seed=5, **kw), simulate(data_seed=9, **kw)
    np.testing.assert_array_equal(default.w, same.w)                 # data_seed = seed is the default
    for name in ("Q", "R", "T", "v", "vstar"):                        # one start ...
        np.testing.assert_array_equal(getattr(replica.initial, name), getattr(default.initial, name), err_msg=name)
    np.testing.assert_array_equal(replica.wstar, default.wstar)
    assert np.all(replica.eg[1:] != default.eg[1:])                   # ... other SGD noise
    assert replica.info["data_seed"] == 9 and default.info["data_seed"] == 5
    from tsdyn.dynamics.run import STREAMS, random_streams

    def key(seq):
        return seq.entropy, seq.spawn_key

    mixed, own, other = random_streams(5, 9), random_streams(5, 5), random_streams(9, 9)
    for name in STREAMS:                           # the data of seed 9, everything else of seed 5
        source = other if name in ("inputs", "label_noise") else own
        assert key(mixed[name]) == key(source[name]), name


def test_results_do_not_depend_on_blocking_threads_or_record_times(monkeypatch):
    import tsdyn.dynamics.streams
    import tsdyn.dynamics.weights_engine as engine
    from tsdyn.dynamics.run import RunSettings

    monkeypatch.setattr(tsdyn.dynamics.streams, "CHUNK_BYTES", 8 * 100 * 64)  # 64-row chunks: many block boundaries
    kw = dict(N=100, M=2, K=5, steps=1000, seed=1, sigma=0.3)
    reference = simulate(times=[0.0, 10.0], **kw)
    monkeypatch.setattr(engine, "MAX_DRAW_THREADS", 1)
    settings = RunSettings.validated(**kw)
    dense = engine.run_weights(settings, np.array([0, 1, 63, 64, 65, 500, 999, 1000]), chunks_per_block=3)
    np.testing.assert_array_equal(dense.w, reference.w)
    np.testing.assert_array_equal(dense.v[-1], reference.v[-1])
    np.testing.assert_array_equal(dense.Q[-1], reference.Q[-1])


def test_test_mse_is_independent_of_how_record_times_are_grouped(monkeypatch):
    import tsdyn.dynamics.weights_engine as engine

    kw = dict(N=50, M=2, K=3, steps=500, seed=4, sigma=0.25, test_samples=700)
    together = simulate(**kw)
    monkeypatch.setattr(engine, "SNAPSHOT_BYTES", 1)               # evaluate each record time on its own
    one_by_one = simulate(**kw)
    np.testing.assert_allclose(one_by_one.test_mse, together.test_mse, rtol=1e-12)


# ---------------------------------------------------------------- learning and the test set
def test_a_short_run_learns():
    traj = simulate(N=100, M=2, K=4, steps=100 * 60, seed=0)
    assert traj.eg[-1] < 0.3 * traj.eg[0]
    assert np.all(np.isfinite(traj.eg))


@pytest.mark.parametrize("sigma", [0.0, 0.5])
def test_test_mse_agrees_with_eg_plus_half_sigma_squared(sigma):
    N, M, K, n_test, seed = 100, 2, 4, 40_000, 11
    traj = simulate(N=N, M=M, K=K, steps=2000, seed=seed, sigma=sigma, test_samples=n_test)
    wstar, w0, v0, _, _ = documented_start(seed, N, M, K, 0)
    rng = np.random.default_rng(123)
    for index, (w, v) in ((0, (w0, v0)), (-1, (traj.w, traj.v[-1]))):
        # Standard error of the test mean, from an independent sample of the same loss.
        x = rng.standard_normal((20_000, N))
        y = act(x @ wstar.T / math.sqrt(N)) @ traj.vstar + sigma * rng.standard_normal(20_000)
        loss = 0.5 * (act(x @ w.T / math.sqrt(N)) @ v - y) ** 2
        se = loss.std() / math.sqrt(n_test)
        assert abs(traj.test_mse[index] - (traj.eg[index] + sigma**2 / 2)) < 4 * se


# ---------------------------------------------------------------- mask, frozen layer
def test_mask_keeps_masked_weights_exactly_zero_and_all_true_mask_changes_nothing():
    N, K = 100, 4
    mask = np.random.default_rng(0).random((K, N)) < 0.4
    kw = dict(N=N, M=2, K=K, steps=4000, seed=3, sigma=0.1)
    masked = simulate(mask=mask, **kw)
    assert np.all(masked.w[~mask] == 0.0)
    assert np.all(masked.w[mask] != 0.0)
    _, w0, _, _, _ = documented_start(3, N, 2, K, 0)
    assert np.max(np.abs(masked.w[mask] - w0[mask])) > 1e-2
    np.testing.assert_allclose(np.diagonal(masked.Q[0]), np.sum((w0 * mask) ** 2, axis=1) / N, rtol=1e-13)
    full = simulate(mask=np.ones((K, N), dtype=bool), **kw)
    plain = simulate(**kw)
    # Same trajectory; not bitwise, as the masked loop may sum the fields in another order.
    np.testing.assert_allclose(full.w, plain.w, rtol=1e-9, atol=1e-12)


def test_frozen_second_layer_keeps_v_and_trains_w():
    traj = simulate(N=80, M=2, K=4, steps=2000, seed=1, train_second_layer=False)
    assert np.all(traj.v == traj.v[0])
    assert not np.allclose(traj.Q[-1], traj.Q[0])


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("kwargs,name", [
    (dict(M=3, K=2), "K"),
    (dict(N=0), "N"),
    (dict(lr=0.0), "lr"),
    (dict(lr=-1.0), "lr"),
    (dict(lr2=-0.1), "lr2"),
    (dict(sigma=-0.1), "sigma"),
    (dict(steps=-1), "steps"),
    (dict(M=2, vstar=[1.0, 2.0, 3.0]), "vstar"),
    (dict(K=3, N=10, mask=np.ones((3, 11), dtype=bool)), "mask"),
    (dict(K=3, N=10, mask=np.ones((3, 10))), "mask"),
    (dict(N=10, steps=100, times=[0.0, 11.0]), "times"),
    (dict(N=10, steps=100, times=[-1.0, 5.0]), "times"),
    (dict(N=10, steps=100, times=[5.0, 1.0]), "times"),
    (dict(test_samples=-5), "test_samples"),
    (dict(data_seed=-1), "data_seed"),
    (dict(data_seed=1.5), "data_seed"),
])
def test_bad_input_raises_value_error_naming_the_parameter(kwargs, name):
    kwargs = {"steps": 10, **kwargs}
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        simulate(**kwargs)


def test_divergence_raises_naming_the_first_non_finite_step():
    # At N = 500, lr = 50 does not overflow (g saturates, g' -> 0); at N = 50 the
    # second-layer rate lr2/N = 1 exceeds the LMS stability limit 2/K and v blows up.
    kw = dict(N=50, lr=50.0, seed=0)
    with pytest.raises(DivergenceError) as info:
        simulate(steps=100_000, **kw)
    step = info.value.step
    assert isinstance(step, int) and f"step {step}" in str(info.value)
    assert info.value.time == pytest.approx(step / 50)
    # It is the *first* bad state: the run that stops before it is clean, the one just past it fails there.
    before = simulate(steps=step - 1, **kw)
    assert np.all(np.isfinite(before.w)) and np.all(np.isfinite(before.v)) and np.all(np.isfinite(before.eg))
    with pytest.raises(DivergenceError) as again:
        simulate(steps=step + 1, **kw)
    assert again.value.step == step


# ---------------------------------------------------------------- CLI
def test_cli_writes_csv_npz_and_png(tmp_path, capsys):
    prefix = tmp_path / "run"
    assert main(["--N", "60", "--steps", "1200", "--test-samples", "300", "--sigma", "0.25",
                 "--out", str(prefix), "--no-progress"]) == 0
    header = (tmp_path / "run.csv").read_text().splitlines()[0]
    assert header == "t,eg,test_mse"
    with np.load(tmp_path / "run.npz") as data:
        assert data["Q_t"].shape[1:] == (6, 6) and data["w"].shape == (6, 60)
    assert (tmp_path / "run.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "eg =" in capsys.readouterr().out


def test_cli_help_documents_every_flag():
    out = subprocess.run([sys.executable, "-m", "tsdyn.simulate", "--help"], check=True,
                         capture_output=True, text=True).stdout
    for flag in ("--N", "--M", "--K", "--lr", "--lr2", "--sigma", "--vstar", "--steps", "--seed", "--data-seed",
                 "--test-samples", "--out", "--init-scale", "--per-decade", "--freeze-second-layer"):
        assert flag in out
    assert "default: 800000" in out and "default: simulation" in out


def test_cli_reports_bad_input_without_traceback(capsys):
    assert main(["--K", "1", "--no-progress"]) == 2
    assert "K must be" in capsys.readouterr().err


# ---------------------------------------------------------------- the paper's setting
@pytest.mark.slow
def test_paper_setting_reaches_small_error_by_t_1600():
    traj = simulate(N=500, M=2, K=6, lr=0.5, vstar=4.0, sigma=0.0, steps=800_000, seed=0)
    assert traj.times[-1] == 1600
    assert traj.eg[-1] < 0.05


def test_lr2_zero_keeps_v_fixed_like_a_frozen_second_layer():
    # One rule for simulator and ODE: eta_v = 0 is the frozen (Saad-Solla) second layer.
    zero = simulate(N=40, M=2, K=3, steps=500, seed=4, lr2=0.0)
    frozen = simulate(N=40, M=2, K=3, steps=500, seed=4, train_second_layer=False)
    np.testing.assert_array_equal(zero.v, frozen.v)
    np.testing.assert_array_equal(zero.w, frozen.w)


def test_weights_engine_starts_from_given_networks():
    """start=Networks(...) of seed 3's own initial weights is seed 3's run, bit for bit; a mask holds its zeros."""
    from tsdyn.dynamics.run import RunSettings, initial_networks, random_streams
    from tsdyn.simulate import Networks

    kw = dict(N=60, M=2, K=3, steps=600, seed=3, sigma=0.2)
    w, v, wstar = initial_networks(RunSettings.validated(**kw), random_streams(3, 3))
    own = simulate(**kw)
    given = simulate(**kw, start=Networks(w, v, wstar, np.full(2, 4.0)))
    np.testing.assert_array_equal(given.w, own.w)
    np.testing.assert_array_equal(given.Q, own.Q)
    assert given.info["start_given"] and not own.info["start_given"]
    again = simulate(steps=300, seed=8, start=own)                  # a weights run's final state; N, M, K its own
    assert again.w.shape == own.w.shape and again.K == 3
    np.testing.assert_array_equal(again.initial.Q, own.Q[-1])
    mask = np.ones((3, 60), dtype=bool)
    mask[1, ::2] = False
    pruned = simulate(**kw, start=Networks(w, v, wstar, np.full(2, 4.0)), mask=mask)
    assert np.all(pruned.w[~mask] == 0) and np.all(pruned.w[mask] != 0)
    with pytest.raises(ValueError, match="N = 61 differs from the start's N = 60"):
        simulate(N=61, steps=10, start=own)
