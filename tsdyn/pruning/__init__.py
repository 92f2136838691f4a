"""Pruning a trained student (pruning paper).

* :mod:`.operators` - node and edge pruning of order parameters and weights (Sec. 3).
* :mod:`.dpp` - the k-DPP of Lemma 1, sampled and enumerated exactly.
* :mod:`.reweighting` - GE-optimal and DIVNET second layers after node pruning.
* :mod:`.blocks` - the block structure of a specialised student (ansatz A6).
* :mod:`.closed_form` - Lemmas 2-4, pruning eq 15, random node pruning in closed form.
* :mod:`.theorems` - the margins of Theorems 1-3.
* :mod:`.study` - every method applied to one trained student, as table rows.
"""
from tsdyn.pruning.operators import (bernoulli_edge_mask, expected_edge_pruned, node_pruned,
                                     prune_order_parameters, select_nodes, subset_eg)

__all__ = ["bernoulli_edge_mask", "expected_edge_pruned", "node_pruned", "prune_order_parameters",
           "select_nodes", "subset_eg"]
