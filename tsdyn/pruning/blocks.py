"""Block structure of a trained student: which teacher node each student node learnt.

After training, the K student nodes of an over-parameterised student split into
groups G_n, one per teacher node n (pruning paper, App. C and the ansatz (A6);
Goldt et al. 2019, S58-S60). The ideal ansatz has M equal groups of Z = K/M
nodes, Q_ik = 1 inside a group, R_in = 1 on the group of n and v_i = v*/Z. A
real student only approximates it: groups can be unequal, a node can learn
-w*_n (then its v_i is negative, since g is odd), and norms differ from 1.
:func:`ansatz_deviation` measures each of these departures.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tsdyn.order_parameters import OrderParameters


@dataclass(frozen=True)
class Blocks:
    """Assignment of student nodes to teacher nodes.

    Attributes
    ----------
    teacher : (K,) int, the teacher node n(i) = argmax_n |R_in| / sqrt(Q_ii T_nn).
    sign : (K,) +1 or -1, the sign of R_{i n(i)} (-1: node i learnt -w*_n).
    sizes : (M,) int, the group sizes |G_n|.
    """

    teacher: np.ndarray
    sign: np.ndarray
    sizes: np.ndarray

    @property
    def M(self) -> int:
        return self.sizes.shape[0]

    def members(self, n: int) -> np.ndarray:
        """Indices of the student nodes in the group of teacher node ``n``."""
        return np.flatnonzero(self.teacher == n)

    def counts(self, keep: np.ndarray) -> np.ndarray:
        """Block counts l_n: how many of the nodes ``keep`` lie in each group (Lemma 3)."""
        return np.bincount(self.teacher[np.asarray(keep, dtype=int)], minlength=self.M)


def normalised_teacher_overlap(Q: np.ndarray, R: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Cosine R_in / sqrt(Q_ii T_nn) between student node i and teacher node n (K x M).

    A node with zero norm (Q_ii = 0) has cosine 0 with every teacher node.
    """
    norms = np.sqrt(np.outer(np.diag(Q), np.diag(T)))
    return np.divide(R, norms, out=np.zeros_like(R, dtype=float), where=norms > 0)


def assign_blocks(op: OrderParameters) -> Blocks:
    """Group the student nodes by the teacher node they learnt (pruning paper App. C).

    Node i goes to n(i) = argmax_n |R_in| / sqrt(Q_ii T_nn), with the sign of
    R_{i n(i)}; ties go to the lowest n.
    """
    cos = normalised_teacher_overlap(op.Q, op.R, op.T)
    teacher = np.argmax(np.abs(cos), axis=1)
    chosen = cos[np.arange(op.K), teacher]
    sign = np.where(chosen < 0, -1, 1)
    return Blocks(teacher=teacher, sign=sign, sizes=np.bincount(teacher, minlength=op.M))


@dataclass(frozen=True)
class AnsatzDeviation:
    """How far a student is from the ideal ansatz (A6), each measure 0 at the ideal.

    Attributes
    ----------
    Q_pattern : max_ik |Q_ik / sqrt(Q_ii Q_kk) - s_i s_k [n(i) = n(k)]|: the normalised
        student overlaps against the (sign-corrected) block pattern of ones.
    R_pattern : max_in |R_in / sqrt(Q_ii T_nn) - s_i [n(i) = n]|.
    norm : max_i |Q_ii / T_{n(i) n(i)} - 1|: student norms against their teacher's.
    norm_spread : (max_i Q_ii - min_i Q_ii) / mean_i Q_ii.
    v_share : max_i |s_i v_i |G_{n(i)}| / v*_{n(i)} - 1|: each node's share of its teacher's
        weight against the equal split v*/Z (with the node's own group size).
    v_sum : max_n |sum_{i in G_n} s_i v_i / v*_n - 1|: Lemma 5 (groups sum to v*), empty groups count 1.
    equal_groups : every group has K/M nodes.
    empty_groups : number of teacher nodes no student node learnt.
    """

    Q_pattern: float
    R_pattern: float
    norm: float
    norm_spread: float
    v_share: float
    v_sum: float
    equal_groups: bool
    empty_groups: int

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def ansatz_deviation(op: OrderParameters, blocks: Blocks | None = None) -> AnsatzDeviation:
    """Measure the distance of (Q, R, v) from the ideal ansatz (A6); see :class:`AnsatzDeviation`."""
    blocks = assign_blocks(op) if blocks is None else blocks
    s, n_of = blocks.sign.astype(float), blocks.teacher
    dQ, dT = np.diag(op.Q), np.diag(op.T)
    same = n_of[:, None] == n_of[None, :]
    norms = np.sqrt(np.outer(dQ, dQ))
    cosQ = np.divide(op.Q, norms, out=np.zeros_like(op.Q), where=norms > 0)
    Q_pattern = float(np.max(np.abs(cosQ - np.outer(s, s) * same)))
    own = np.arange(op.M)[None, :] == n_of[:, None]
    R_pattern = float(np.max(np.abs(normalised_teacher_overlap(op.Q, op.R, op.T) - s[:, None] * own)))
    norm = float(np.max(np.abs(dQ / dT[n_of] - 1.0)))
    norm_spread = float((dQ.max() - dQ.min()) / dQ.mean()) if dQ.mean() > 0 else float("inf")
    vstar_of = op.vstar[n_of]
    v_share = float(np.max(np.abs(s * op.v * blocks.sizes[n_of] / vstar_of - 1.0)))
    group_sums = np.bincount(n_of, weights=s * op.v, minlength=op.M)
    v_sum = float(np.max(np.abs(group_sums / op.vstar - 1.0)))
    return AnsatzDeviation(
        Q_pattern=Q_pattern, R_pattern=R_pattern, norm=norm, norm_spread=norm_spread,
        v_share=v_share, v_sum=v_sum,
        equal_groups=bool(op.K % op.M == 0 and np.all(blocks.sizes == op.K // op.M)),
        empty_groups=int(np.sum(blocks.sizes == 0)))
