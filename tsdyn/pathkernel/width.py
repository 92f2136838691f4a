"""Which pruner wins where: final GE of pruned-at-init students over widths K and budgets c.

Rows are one per trained run (K, c, layers, pruner, seed, eg_final). The
summary gives, per (K, c, layers, pruner), the mean final GE and its standard
error over seeds; per (K, c, layers) the best score (of the path-kernel
scores, not the random baselines) and its margin to random node and random
edge pruning, each with the standard error of a difference of independent means.
"""
from __future__ import annotations

import math

import numpy as np

from tsdyn.pathkernel.study import BASELINES, mean_sem

SUMMARY_FIELDS = ("K", "c", "layers", "pruner", "seeds", "eg_mean", "eg_sem", "log_eg_mean", "log_eg_sem", "rank")
WINNER_FIELDS = ("K", "c", "layers", "best_score", "best_eg", "best_sem", "random_node_eg", "random_node_sem",
                 "random_edge_eg", "random_edge_sem", "best_minus_node", "best_minus_node_sem",
                 "best_minus_edge", "best_minus_edge_sem", "synflow_l2_over_synflow", "synflow_l2_over_synflow_sem")


def summarise(rows: list[dict]) -> list[dict]:
    """Mean and SEM of the final GE (and of its log) per (K, c, layers, pruner); rank 1 = lowest mean within a budget."""
    out = []
    for key in sorted({(r["K"], r["c"], r["layers"]) for r in rows}):
        sel = [r for r in rows if (r["K"], r["c"], r["layers"]) == key]
        budget = []
        for pruner in dict.fromkeys(r["pruner"] for r in sel):
            vals = [r["eg_final"] for r in sel if r["pruner"] == pruner]
            m, s = mean_sem(vals)
            lm, ls = mean_sem(np.log(vals))
            budget.append(dict(K=key[0], c=key[1], layers=key[2], pruner=pruner, seeds=len(vals), eg_mean=m,
                               eg_sem=s, log_eg_mean=lm, log_eg_sem=ls))
        for rank, row in enumerate(sorted(budget, key=lambda r: r["eg_mean"]), 1):
            row["rank"] = rank
        out += budget
    return out


def winners(summary: list[dict]) -> list[dict]:
    """Per budget: the best score, its margins to random node / random edge, and SynFlow-L2 / SynFlow (ratio of means)."""
    out = []
    for key in sorted({(r["K"], r["c"], r["layers"]) for r in summary}):
        sel = {r["pruner"]: r for r in summary if (r["K"], r["c"], r["layers"]) == key}
        scores = [r for p, r in sel.items() if p not in BASELINES and p != "dense"]
        if not scores:          # the dense student's own "budget" c = 1
            continue
        best = min(scores, key=lambda r: r["eg_mean"])
        nan = dict(eg_mean=math.nan, eg_sem=math.nan)
        node, edge = sel.get("random_node", nan), sel.get("random_edge", nan)
        row = dict(K=key[0], c=key[1], layers=key[2], best_score=best["pruner"], best_eg=best["eg_mean"],
                   best_sem=best["eg_sem"], random_node_eg=node["eg_mean"], random_node_sem=node["eg_sem"],
                   random_edge_eg=edge["eg_mean"], random_edge_sem=edge["eg_sem"])
        for name, ref in (("node", node), ("edge", edge)):
            row[f"best_minus_{name}"] = best["eg_mean"] - ref["eg_mean"]
            row[f"best_minus_{name}_sem"] = math.hypot(best["eg_sem"], ref["eg_sem"])
        l2, sf = sel.get("synflow_l2"), sel.get("synflow")
        if l2 and sf:
            ratio = l2["eg_mean"] / sf["eg_mean"]
            row["synflow_l2_over_synflow"] = ratio
            row["synflow_l2_over_synflow_sem"] = ratio * math.hypot(l2["eg_sem"] / l2["eg_mean"], sf["eg_sem"] / sf["eg_mean"])
        else:
            row["synflow_l2_over_synflow"] = row["synflow_l2_over_synflow_sem"] = math.nan
        out.append(row)
    return out
