"""The seed registry: every fixed seed or seed offset the studies use, in one place.

Each purpose has its own number, so no two purposes draw from one stream by
accident. Training runs take their own ``seed`` (and ``data_seed``) through
:func:`tsdyn.simulate.simulate`; the numbers here seed everything drawn *around*
a run: masks, test sets, subsets, scoring data. Purposes combined with a run's
seed by :func:`tsdyn.pruning.study.student_seed` are "purposes"; those added to
a run's seed are "offsets".
"""

#: Random edge masks of a trained student (purpose; fig2b, theorems and pathkernel's random-edge baseline).
EDGE_MASK_SEED = 7_000
#: Data seeds of replicas start above it, away from the seeds of ordinary runs (ode_vs_sim).
REPLICA_DATA_SEED_BASE = 10_000
#: The paper's test set of each fig2a student (purpose).
TEST_SET_SEED = 20_000
#: Default seed of the subsets drawn for fig3's panels C and D (``subset_seed`` in sims/fig3.toml overrides it).
SUBSET_SEED = 0

#: Pruning at initialisation (prune_at_init): offset of the scoring data (SNIP, GraSP, mu of -Dist).
AT_INIT_DATA_SEED_OFFSET = 10_000
#: Pruning at initialisation: offset of the random masks.
AT_INIT_MASK_SEED_OFFSET = 20_000
#: Pruning at initialisation: offset of the inputs on which the NTK is evaluated.
AT_INIT_NTK_SEED_OFFSET = 30_000

#: Retraining after pruning (retrain): the DPP and random node subsets of a student (purpose).
RETRAIN_SUBSET_SEED = 40_000
#: Retraining after pruning: the random edge masks of a student (purpose).
RETRAIN_EDGE_MASK_SEED = 41_000
#: Retraining after pruning: the SGD data (inputs, label noise) of each retraining run (purpose).
RETRAIN_DATA_SEED = 42_000
#: Training in segments until specialised (theorems_zc): segment j >= 1 of the run of seed s draws its
#: data from data seed SEGMENT_DATA_SEED_BASE + 64 s + j (segment 0 is the ordinary run of seed s).
SEGMENT_DATA_SEED_BASE = 1_000_000
#: Final weights drawn in law from an order-engine run's order parameters (tsdyn.dynamics.weights_in_law):
#: the Haar frame of run (seed s, data seed d) is drawn from SeedSequence([WEIGHTS_IN_LAW_SEED, s, d]).
WEIGHTS_IN_LAW_SEED = 50_000
