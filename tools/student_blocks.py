"""Block structure of the trained students of Figures 2A and 2B, quoted in README.md.

For each sigma = 0 student (seeds 0-2, the sweep's setting): the probability that the 2-DPP with
kernel Q keeps two nodes of one block, and how many distinct blocks importance pruning keeps.
Run: ``python tools/student_blocks.py`` (about 50 s).
"""
import numpy as np
from tsdyn.simulate import simulate
from tsdyn.pruning.dpp import kdpp_subsets
from tsdyn.pruning.blocks import assign_blocks
from tsdyn.pruning.operators import select_importance
for K, M, steps in ((6, 2, 800_000), (20, 5, 1_500_000)):
    for seed in (0, 1, 2):
        s = simulate(M=M, K=K, N=500, lr=0.5, vstar=4.0, steps=steps, seed=seed).final()
        b = assign_blocks(s)
        p_same = kdpp_subsets(s.Q, 2).probability(lambda S: b.teacher[S[:, 0]] == b.teacher[S[:, 1]])
        imp = [len(set(b.teacher[select_importance(s.v, k)])) for k in range(1, M + 1)]
        print(f"K={K} seed={seed}: P_2DPP(two nodes of one block)={p_same:.3f}; "
              f"distinct blocks kept by importance at k_n=1..{M}: {imp}")
