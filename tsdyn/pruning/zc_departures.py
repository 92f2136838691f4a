"""How far a trained student is from the ansatz (A6), in the measures that move the theorem margins.

A6 (NOTES.md) has M equal blocks of Z nodes, Q_ik = 1 inside a block and 0
across, R_in = 1 on the block of n, v_i = v*/Z. :func:`departures` measures, per
student: the block sizes (of all nodes and of the active ones, |v_i| >= 0.1
v*/Z, see :mod:`tsdyn.dynamics.specialise`), the spread of Q_ii and |v_i| over
the active nodes, the alignment R_in / sqrt(Q_ii T_nn) with the node's own
teacher node, the largest cross-block cosine |Q_ik| / sqrt(Q_ii Q_kk), and
what the k-DPP of each kernel does with it at k_n = M: the exact probability
of keeping two nodes of one block (0 under A6) and the mean of Q_ii over the
kept nodes against the mean over all (1 under A6: the raw Q favours norm).
"""
from __future__ import annotations

import numpy as np

from tsdyn.order_parameters import OrderParameters
from tsdyn.pruning.blocks import ansatz_deviation, assign_blocks, normalised_teacher_overlap
from tsdyn.pruning.dpp import kdpp_subsets
from tsdyn.pruning.zc import ZC_KERNELS, importance_distribution, zc_kernel

#: An active node's |v_i| in units of v*/Z (as the specialisation rule).
ACTIVE_V = 0.1


def departures(op: OrderParameters) -> dict:
    """The measures of the module docstring for one student (flat dict, CSV-ready)."""
    blocks = assign_blocks(op)
    Z = op.K / op.M
    active = np.abs(op.v) >= ACTIVE_V * float(np.max(np.abs(op.vstar))) / Z
    dQ = np.diag(op.Q)
    cos_t = np.abs(normalised_teacher_overlap(op.Q, op.R, op.T)[np.arange(op.K), blocks.teacher])
    d = np.sqrt(np.outer(dQ, dQ))
    cosQ = np.abs(np.divide(op.Q, d, out=np.zeros_like(op.Q), where=d > 0))
    other = (blocks.teacher[:, None] != blocks.teacher[None, :]) & np.outer(active, active)
    dev = ansatz_deviation(op, blocks)
    a = active if active.any() else np.ones(op.K, dtype=bool)
    out = dict(group_sizes=" ".join(map(str, blocks.sizes.tolist())),
               active_sizes=" ".join(map(str, np.bincount(blocks.teacher[active], minlength=op.M).tolist())),
               active=int(active.sum()), equal_blocks=bool(dev.equal_groups),
               Qii_min=float(dQ[a].min()), Qii_max=float(dQ[a].max()),
               Qii_spread=float((dQ[a].max() - dQ[a].min()) / dQ[a].mean()),
               absv_spread=float(np.std(np.abs(op.v[a])) / np.mean(np.abs(op.v[a]))),
               v_share=float(dev.v_share), v_sum=float(dev.v_sum),
               align_min=float(cos_t[a].min()), align_mean=float(cos_t[a].mean()),
               cross_block_max=float(cosQ[other].max()) if other.any() else 0.0)
    k = op.M
    teacher = blocks.teacher

    def two_of_one(S):
        return np.any(np.diff(np.sort(teacher[S], axis=1), axis=1) == 0, axis=1)

    for kind in ZC_KERNELS:
        try:
            dist = kdpp_subsets(zc_kernel(kind, op.Q), k)
        except ValueError:
            out[f"p_same_block_{kind}"] = out[f"norm_bias_{kind}"] = float("nan")
            continue
        out[f"p_same_block_{kind}"] = dist.probability(two_of_one)
        out[f"norm_bias_{kind}"] = dist.expect(lambda S: dQ[S].mean(axis=1)) / dQ.mean()
    imp = importance_distribution(op.v, k)
    out["imp_distinct_blocks"] = imp.expect(lambda S: np.array([len(set(teacher[s])) for s in S], dtype=float))
    return out
