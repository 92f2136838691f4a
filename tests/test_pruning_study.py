"""The comparison layer against independent computations on explicit weights."""
import numpy as np
import pytest

from tsdyn.eg import eg_of
from tsdyn.order_parameters import OrderParameters
from tsdyn.pruning.operators import expected_edge_pruned, prune_student_nodes, select_importance
from tsdyn.pruning.study import (REPORTED_REWEIGHTS, TrainedStudent, edge_pruning_rows, node_pruning_rows,
                                 student_seed, student_test_set)
from tsdyn.targets.training import train, training_jobs
from tsdyn.dynamics.testset import TestSet
from tsdyn.trajectory import Trajectory


@pytest.fixture(scope="module")
def student(trained_student):
    return trained_student


def test_node_rows_score_the_test_set_of_each_pruned_student(student):
    # The rows' test-set 1/2 MSE, by second moments, against the pruned weights scored input by input.
    test = student_test_set(student, 3000, purpose=9)
    rows = node_pruning_rows(student, [3], test=test, methods=("importance",))
    keep = select_importance(student.v, 3)
    direct = TestSet.from_seed(student.wstar, student.vstar, sigma=student.sigma, n=3000, seed=student_seed(student, 9))
    for row in rows:
        pruned = prune_student_nodes(student.w, student.v, student.wstar, student.vstar, keep,
                                     REPORTED_REWEIGHTS[row["reweight"]])
        assert row["test_half_mse"] == pytest.approx(direct.half_mse(pruned.w, pruned.v).mean, rel=1e-10)


def test_edge_rows_are_reproducible_and_match_lemma6_and_real_masks(student):
    rows = edge_pruning_rows(student, [2], n_masks=4, seed=3)
    assert rows == edge_pruning_rows(student, [2], n_masks=4, seed=3)
    plain = next(r for r in rows if r["reweight"] == "none")
    assert plain["k_e"] == 40 and plain["c"] == 0.5   # k_n / K = 2 / 4 of N = 80 inputs (eq 1)
    assert plain["eps_expected_network"] == pytest.approx(eg_of(expected_edge_pruned(student.params, 0.5)))
    assert np.isfinite(plain["eps_sem"]) and plain["eps_sem"] > 0
    with pytest.raises(ValueError, match="n_masks must be an integer >= 1"):
        edge_pruning_rows(student, [2], n_masks=0, seed=3)


def test_training_job_is_complete_and_timed(trained_run):
    cfg = dict(N=40, M=2, K=3, lr=0.5, vstar=4, steps=400, sigmas=[0.0], seeds=[0])
    (job,) = training_jobs(cfg)
    assert isinstance(job.params["vstar"], float)  # 4 and 4.0 must give the same cache key
    assert job.key() == training_jobs({**cfg, "vstar": 4.0})[0].key()
    traj = Trajectory.from_arrays(trained_run)
    assert np.isfinite(traj.info["wall_s"]) and traj.info["wall_s"] > 0
    op = OrderParameters(trained_run["Q0"], trained_run["R0"], trained_run["T"], trained_run["v0"], trained_run["vstar"])
    assert traj.eg[0] == pytest.approx(eg_of(op), rel=1e-12)    # the decoded start is the encoded one
    final = OrderParameters.from_weights(traj.w, traj.v[-1], traj.wstar, traj.vstar)
    np.testing.assert_allclose(final.Q, traj.Q[-1], rtol=1e-10, atol=1e-12)  # the history ends at the weights
    student = TrainedStudent.from_trajectory(traj, sigma=0.3, seed=1)
    assert student.params.K == 4 and (student.sigma, student.seed) == (0.3, 1)
    with pytest.raises(ValueError, match="stream must be the weights engine's random stream"):
        train(**{**job.params, "stream": "another"})
