"""The paper's test set: fresh Gaussian inputs with noisy labels, and the 1/2 MSE on it.

Labels are y = phi_t(x) + sigma * zeta (pruning paper Sec. 4; NOTES.md), and the
test error of a student is 1/2 mean_x (phi_s(x) - y)^2, whose expectation is
eps_g + sigma^2 / 2 (:func:`tsdyn.eg.test_mse_expected`). This module is the one
place that draws test sets and scores students on them: :mod:`tsdyn.simulate`
(the test error along training) and :mod:`tsdyn.pruning.study` (pruned students,
by second moments) both use it.

A test set is never held whole: it is two chunked streams (:mod:`tsdyn.dynamics.streams`),
inputs and label noise, regenerated chunk by chunk at every evaluation. The
paper's 80 000 inputs of dimension 500 (320 MB) so cost one chunk of memory, and
every evaluation sees exactly the same inputs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from tsdyn.checks import check_array, check_int, check_real
from tsdyn.conventions import DEFAULT_ACTIVATION, activation_pair, fields, g, network_output
from tsdyn.order_parameters import as_vstar
from tsdyn.dynamics.streams import chunk_rows, fill_from_stream


@dataclass(frozen=True)
class HalfMSE:
    """Test-set 1/2 MSE: its mean over n inputs, the standard error of that mean, and n."""

    mean: float
    stderr: float
    n: int


@dataclass(frozen=True)
class TestSet:
    """n Gaussian inputs of the teacher (``wstar``, ``vstar``) with labels y = phi_t(x) + sigma * zeta.

    Build with :meth:`from_seed`, or from two ``SeedSequence`` streams of a
    caller's own (:mod:`tsdyn.simulate` passes the streams of its seed).
    ``activation`` is the teacher's and students' g (one name, a (teacher, student) pair or
    "teacher/student"; :func:`tsdyn.conventions.activation_pair`): the teacher's labels the inputs,
    the student's scores the students.
    """

    wstar: np.ndarray
    vstar: np.ndarray
    sigma: float
    n: int
    inputs: np.random.SeedSequence
    noise: np.random.SeedSequence
    activation: str | tuple = DEFAULT_ACTIVATION

    __test__ = False  # not a pytest test class despite its name

    def __post_init__(self):
        object.__setattr__(self, "activation", activation_pair(self.activation))
        object.__setattr__(self, "wstar", check_array("wstar", self.wstar, ndim=2))
        object.__setattr__(self, "vstar", as_vstar(self.vstar, self.wstar.shape[0]))
        object.__setattr__(self, "sigma", check_real("sigma", self.sigma, low=0.0))
        object.__setattr__(self, "n", check_int("n", self.n, low=1))

    @classmethod
    def from_seed(cls, wstar: np.ndarray, vstar, *, sigma: float, n: int,
                  seed: int | np.random.SeedSequence, activation=DEFAULT_ACTIVATION) -> "TestSet":
        """A test set whose inputs and noise are the two children of ``SeedSequence(seed)``."""
        seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        inputs, noise = seq.spawn(2)
        return cls(wstar, vstar, sigma, n, inputs, noise, activation)

    def chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(x, y)``: consecutive chunks of the inputs (rows) and their noisy labels.

        The arrays are reused: use each chunk before asking for the next.
        """
        N = self.wstar.shape[1]
        R = chunk_rows(N)
        x, zeta = np.empty((R, N)), np.zeros(R)
        for start in range(0, self.n, R):
            rows = min(R, self.n - start)
            fill_from_stream(self.inputs, R, start, x[:rows])
            if self.sigma > 0:
                fill_from_stream(self.noise, R, start, zeta[:rows])
            yield x[:rows], network_output(self.wstar, self.vstar, x[:rows], self.activation[0]) + self.sigma * zeta[:rows]

    def half_mse(self, w: np.ndarray, v: np.ndarray) -> HalfMSE:
        """1/2 mean of (phi_s(x) - y)^2 for the student (w, v), with the standard error of the mean."""
        w = check_array("w", w, shape=(None, self.wstar.shape[1]))
        v = check_array("v", v, shape=(w.shape[0],))
        total, total_sq = self._loss_sums(w[None], v[None])
        mean = float(total[0]) / self.n
        var = max(float(total_sq[0]) / self.n - mean * mean, 0.0) * self.n / max(self.n - 1, 1)
        return HalfMSE(mean, math.sqrt(var / self.n), self.n)

    def half_mse_of_many(self, w: np.ndarray, v: np.ndarray) -> np.ndarray:
        """The 1/2 MSE of G students at once: w of shape (G, K, N), v of shape (G, K) -> (G,).

        One pass over the test set and one matrix product per chunk for all of them
        (the snapshots of a training run).
        """
        w = check_array("w", w, shape=(None, None, self.wstar.shape[1]))
        v = check_array("v", v, shape=w.shape[:2])
        return self._loss_sums(w, v)[0] / self.n

    def moments(self, w: np.ndarray) -> "TestMoments":
        """The second moments of the student activations g(w x / sqrt N) and the labels (see TestMoments)."""
        w = check_array("w", w, shape=(None, self.wstar.shape[1]))
        K = w.shape[0]
        G, b, yy = np.zeros((K, K)), np.zeros(K), 0.0
        for x, y in self.chunks():
            activations = g(fields(w, x), self.activation[1])
            G += activations.T @ activations
            b += activations.T @ y
            yy += float(y @ y)
        return TestMoments(G / self.n, b / self.n, yy / self.n, self.n)

    def _loss_sums(self, w: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        G, K, N = w.shape
        all_nodes = w.reshape(G * K, N)                  # every student's fields in one product
        total, total_sq = np.zeros(G), np.zeros(G)
        for x, y in self.chunks():
            outputs = np.einsum("cgk,gk->cg", g(fields(all_nodes, x), self.activation[1]).reshape(len(x), G, K), v)
            loss = 0.5 * (outputs - y[:, None]) ** 2
            total += loss.sum(axis=0)
            total_sq += (loss * loss).sum(axis=0)
        return total, total_sq


@dataclass(frozen=True)
class TestMoments:
    """A test set seen by one first layer w, kept as second moments.

    With A = g(lambda) the (n, K) activations and y the labels, the 1/2 MSE of the
    student pruned to the nodes S with second layer u is
    1/2 (u^T G_SS u - 2 u^T b_S + yy), G = A^T A / n, b = A^T y / n, yy = y.y / n,
    so any number of pruned, reweighted students is scored exactly in O(k^2) each.
    """

    G: np.ndarray
    b: np.ndarray
    yy: float
    n: int

    __test__ = False

    def half_mse(self, subsets: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Test-set 1/2 MSE of each pruned student: (B, k) subsets with (B, k) second layers -> (B,)."""
        subsets = np.atleast_2d(subsets)
        v = np.atleast_2d(v)
        G_S = self.G[subsets[:, :, None], subsets[:, None, :]]
        quadratic = np.einsum("bi,bij,bj->b", v, G_S, v)
        return 0.5 * (quadratic - 2.0 * np.einsum("bi,bi->b", v, self.b[subsets]) + self.yy)
