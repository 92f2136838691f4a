"""The comparison layer: every pruning method of Table 1 applied to one trained student.

Given the final weights of a training run, these functions return flat rows
(dicts) of exact generalisation errors - expectations over the random-node and
DPP subset distributions by enumeration, importance pruning, random edge
pruning over real masks and its expected network (Lemma 6) - that the sweep
targets write to CSV, plot, and test against Theorems 1-3.

"With reweighting" means the GE-optimal second layer for node pruning
(:func:`tsdyn.pruning.reweighting.optimal_second_layer`; under the ansatz it equals
DIVNET, and it is the recovery Lemma 2 assumes) and the GE-optimal scale A of
v for edge pruning (Theorem 3). DIVNET's own least squares is reported too.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tsdyn.checks import check_int
from tsdyn.pruning.blocks import assign_blocks
from tsdyn.pruning.dpp import kdpp_subsets, uniform_subsets
from tsdyn.eg import eg_of
from tsdyn.order_parameters import OrderParameters
from tsdyn.pruning.operators import (bernoulli_edge_mask, edge_scale, expected_edge_pruned, matched_edge_count,
                           prune_student_edges, reweighted_second_layer, scaled, select_importance, subset_eg)
from tsdyn.dynamics.testset import TestMoments, TestSet
from tsdyn.trajectory import Trajectory

#: The node reweightings reported, by their label in the tables: none, DIVNET (post-activation,
#: Mariet & Sra 2016), GE-optimal; each maps to its operator in :data:`tsdyn.pruning.operators.NODE_REWEIGHTS`.
REPORTED_REWEIGHTS = {"none": None, "divnet": "divnet-post", "optimal": "optimal"}
#: The reweighting the theorems' hatted GEs refer to.
THEOREM_REWEIGHT = "optimal"


@dataclass(frozen=True)
class TrainedStudent:
    """Final weights of one training run, with its label noise and seed."""

    w: np.ndarray
    v: np.ndarray
    wstar: np.ndarray
    vstar: np.ndarray
    sigma: float
    seed: int

    @classmethod
    def from_trajectory(cls, traj: Trajectory, *, sigma: float, seed: int) -> "TrainedStudent":
        """The final weights of a simulated run (what a training job returns)."""
        if traj.w is None or traj.wstar is None:
            raise ValueError("traj must be a simulation with final weights w, wstar (an ODE run has none)")
        return cls(traj.w, traj.v[-1], traj.wstar, traj.vstar, float(sigma), int(seed))

    @property
    def params(self) -> OrderParameters:
        return OrderParameters.from_weights(self.w, self.v, self.wstar, self.vstar)


def student_seed(student: TrainedStudent, purpose: int) -> np.random.SeedSequence:
    """An independent seed per (purpose, student seed, sigma): masks, test sets, subsets."""
    return np.random.SeedSequence([purpose, student.seed, round(student.sigma * 1e6)])


def student_rng(student: TrainedStudent, purpose: int) -> np.random.Generator:
    """A generator on :func:`student_seed`."""
    return np.random.default_rng(student_seed(student, purpose))


def student_test_set(student: TrainedStudent, n: int, purpose: int) -> TestMoments:
    """The paper's test set (n noisy-label inputs) for this student, as seen by its first layer."""
    test = TestSet.from_seed(student.wstar, student.vstar, sigma=student.sigma, n=n, seed=student_seed(student, purpose))
    return test.moments(student.w)


def node_subset_distributions(op: OrderParameters, k_n: int) -> dict:
    """The subset distributions of random and DPP node pruning (kernel L = Q, Lemma 1), exhaustive."""
    return {"random": uniform_subsets(op.K, k_n), "dpp": kdpp_subsets(op.Q, k_n)}


def same_block_probabilities(op: OrderParameters, k_n: int) -> dict[str, float]:
    """Per node-pruning distribution (random, DPP), the exact probability of keeping two nodes of one block."""
    teacher = assign_blocks(op).teacher

    def two_of_one_block(S):
        return np.any(np.diff(np.sort(teacher[S], axis=1), axis=1) == 0, axis=1)

    return {m: d.probability(two_of_one_block) for m, d in node_subset_distributions(op, k_n).items()}


def pruning_table(students, kn_values, *, methods=("dpp", "importance", "random"), test_samples: int = 0,
                  test_seed: int | None = None, edge_masks: int = 0, edge_seed: int | None = None) -> list[dict]:
    """Per student: the rows of :func:`node_pruning_rows` (with the test-set 1/2 MSE on ``test_samples``
    inputs of purpose ``test_seed`` if asked), then, if ``edge_masks``, those of :func:`edge_pruning_rows`."""
    table = []
    for student in students:
        test = student_test_set(student, int(test_samples), test_seed) if test_samples else None
        table += node_pruning_rows(student, kn_values, test=test, methods=methods)
        if edge_masks:
            table += edge_pruning_rows(student, kn_values, n_masks=int(edge_masks), seed=edge_seed)
    return table


def node_pruning_rows(student: TrainedStudent, kn_values, *, test: TestMoments | None = None,
                      methods=("dpp", "importance", "random")) -> list[dict]:
    """Exact GE of DPP, importance and random node pruning for each k_n, each reweighting.

    DPP and random are exact expectations over their subset distributions;
    ``test`` adds the test-set 1/2 MSE (its expectation over the same distributions).
    """
    op = student.params
    rows = []
    for k_n in kn_values:
        dists = node_subset_distributions(op, int(k_n))
        importance = select_importance(op.v, int(k_n))[None, :]
        for label, reweight in REPORTED_REWEIGHTS.items():
            for method in methods:
                def eps(S, reweight=reweight):
                    return subset_eg(op, S, reweight)

                value = float(eps(importance)[0]) if method == "importance" else dists[method].expect(eps)
                row = dict(sigma=student.sigma, seed=student.seed, method=method, reweight=label,
                           kn=int(k_n), eps=value)
                if test is not None:
                    def half_mse(S, reweight=reweight):
                        return test.half_mse(S, reweighted_second_layer(op, S, reweight))

                    row["test_half_mse"] = (float(half_mse(importance)[0]) if method == "importance"
                                            else dists[method].expect(half_mse))
                rows.append(row)
    return rows


def edge_pruning_rows(student: TrainedStudent, kn_values, *, n_masks: int, seed: int) -> list[dict]:
    """Random edge pruning matched to k_n nodes (pruning eq 1): mean GE over ``n_masks`` Bernoulli masks and
    the GE of the expected network (Lemma 6), each without and with the GE-optimal scale A.
    """
    n_masks = check_int("n_masks", n_masks, low=1)
    op = student.params
    K, N = student.w.shape
    rng = student_rng(student, seed)
    rows = []
    for k_n in kn_values:
        k_e = matched_edge_count(int(k_n), K, N)
        c = k_e / N
        plain, reweighted = [], []
        for _ in range(n_masks):
            mask = bernoulli_edge_mask(K, N, c, rng)
            pruned = prune_student_edges(student.w, student.v, student.wstar, student.vstar, mask)
            plain.append(pruned.eg)
            reweighted.append(eg_of(scaled(pruned.params, edge_scale(pruned.params))))
        expected = expected_edge_pruned(op, c)
        common = dict(sigma=student.sigma, seed=student.seed, kn=int(k_n), k_e=k_e, c=c)
        for label, masks, exp_eps in (("none", plain, eg_of(expected)),
                                      ("optimal", reweighted, eg_of(scaled(expected, edge_scale(expected))))):
            rows.append(dict(common, method="edge", reweight=label, eps=float(np.mean(masks)),
                             eps_sem=float(np.std(masks, ddof=1) / math.sqrt(n_masks)) if n_masks > 1 else float("nan"),
                             eps_expected_network=float(exp_eps)))
    return rows
