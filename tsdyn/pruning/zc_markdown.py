"""``theorems_zc.md``: the (Z, c) section of the theorem checks, written from the rows (no number typed by hand)."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from tsdyn.pruning.zc import THEOREMS, ZC_KERNELS

STATEMENT = {"1a": "E_rand[eps] >= E_DPP[eps]", "1b": "E_rand[epshat] >= E_DPP[epshat]",
             "1c": "eps_Imp >= E_DPP[eps] (erratum 6)", "1c_printed": "eps_Imp >= E_DPP[epshat] (eq 3 as printed)",
             "1d": "epshat_Imp >= E_DPP[epshat] (erratum 6)", "2": "E_DPP[eps] >= eps_Edge(E f)",
             "3": "E_DPP[epshat] <= min_A epshat_Edge(E f)"}
class Counter:
    """(cases held, cases, smallest margin) over the verdict rows at k_n <= M matching given columns (indexed once per column set)."""

    def __init__(self, verdicts: list[dict]):
        self.rows = [r for r in verdicts if r["kn"] <= r["M"]]
        self.index: dict = {}

    def __call__(self, **match):
        keys = tuple(sorted(match))
        if keys not in self.index:
            groups = self.index[keys] = defaultdict(list)
            for r in self.rows:
                groups[tuple(r[k] for k in keys)].append(r)
        rs = self.index[keys].get(tuple(match[k] for k in keys), [])
        return (sum(r["holds"] for r in rs), sum(r["seeds"] for r in rs),
                min((r["min_margin"] for r in rs), default=np.nan))


def verdict_table(count: Counter, sigma: float) -> list[str]:
    """Per theorem: holds / cases over every (Z, k_n <= M) point and seed, per level and kernel."""
    cols = [("ansatz", "Q")] + [(lv, k) for lv in ("ode", "sgd", "sgd_800k") for k in ZC_KERNELS]
    lines = ["| theorem | " + " | ".join(f"{lv} {k}" for lv, k in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for t in THEOREMS:
        cells = []
        for lv, k in cols:
            h, n, m = count(sigma=sigma, level=lv, kernel=k, theorem=t)
            cells.append(f"{h}/{n} (min {m:.2g})" if n else "-")
        lines.append(f"| {t}: {STATEMENT[t]} | " + " | ".join(cells) + " |")
    return lines


def holds_from(training: list[dict], runs: list[dict], sigma: float = 0.0) -> list[str]:
    """Per along-training setting, k_n, theorem and kernel: from which t the mean margin stays >= 0 (SGD and ODE).

    ``training`` holds the seed statistics of :func:`tsdyn.pruning.zc.training_summary`.
    """
    curves = defaultdict(dict)
    for r in training:
        if r["sigma"] == sigma:
            curves[(r["M"], r["Z"], r["kn"], r["theorem"], r["kernel"], r["level"])][r["t"]] = r["mean_margin"]

    def since(c):
        t = np.array(sorted(c))
        ok = np.array([c[x] >= -1e-10 for x in t])
        if not ok[-1]:
            return "never"
        bad = np.flatnonzero(~ok)
        return f"{t[bad[-1] + 1] if bad.size else t[0]:.3g}"

    lines = ["| M | Z | k_n | median plateau exit | median t_stop (met) | " +
             " | ".join(f"{t} {k}" for t, k in (("1a", "Q"), ("1a", "Qcos"), ("1b", "Q"), ("1b", "Qcos"), ("1d", "Qcos"),
                                                ("2", "Q"), ("3", "Q"))) + " |", "|---" * 12 + "|"]
    for M, Z, kn in sorted({k[:3] for k in curves}):
        mine = [r for r in runs if (r["M"], r["Z"], r["sigma"]) == (M, Z, sigma)]
        stops = [r["t_stop"] for r in mine if r["met"]]
        cells = [f"{since(curves[(M, Z, kn, t, k, 'sgd')])} / {since(curves[(M, Z, kn, t, k, 'ode')])}"
                 for t, k in (("1a", "Q"), ("1a", "Qcos"), ("1b", "Q"), ("1b", "Qcos"), ("1d", "Qcos"), ("2", "Q"), ("3", "Q"))]
        lines.append(f"| {M} | {Z} | {kn} | {np.nanmedian([r['t_exit'] for r in mine]):.3g} | "
                     f"{np.median(stops) if stops else float('nan'):.3g} | " + " | ".join(cells) + " |")
    return lines


def eta_lines(eta: list[dict] | None, lr: float) -> list[str]:
    """The learning-rate check of the stalls (tools/zc_eta_check.py, theorems_zc_eta.csv) as a table."""
    if not eta:
        return ["Learning-rate check: `theorems_zc_eta.csv` is not in this folder; run "
                "`python tools/zc_eta_check.py` (it writes figures/theorems_zc_eta.csv)."]
    lines = [f"Is a stall an artefact of eta = {lr:g} (the paper's, used here)? The ODE from the same starts "
             "(seeds 0-2, sigma = 0) at eta = 0.5 and 0.1 to the same eta t (`theorems_zc_eta.csv`, "
             "`python tools/zc_eta_check.py`); aligned: the rule's alignment at that time.", "",
             "| M | Z | seed | eta t | eps_g at eta 0.5 | eps_g at eta 0.1 | aligned 0.5 / 0.1 | max Q_ii 0.5 / 0.1 |",
             "|---|---|---|---|---|---|---|---|"]
    by = {(r["M"], r["Z"], r["seed"], r["eta_t"], float(r["lr"])): r for r in eta}
    for M, Z, seed, eta_t in sorted({k[:4] for k in by}, key=lambda k: (int(k[0]), int(k[1]), int(k[2]), float(k[3]))):
        a, b = by.get((M, Z, seed, eta_t, 0.5)), by.get((M, Z, seed, eta_t, 0.1))
        if a is None or b is None:
            continue
        lines.append(f"| {M} | {Z} | {seed} | {float(eta_t):g} | {float(a['eg']):.3g} | {float(b['eg']):.3g} | "
                     f"{a['aligned']} / {b['aligned']} | {float(a['max_Qii']):.3g} / {float(b['max_Qii']):.3g} |")
    return lines


def rule_lines(rule: list[dict] | None) -> list[str]:
    """The specialisation-rule check (tools/zc_rule_check.py, theorems_zc_rule_summary.csv) as a table."""
    if not rule:
        return ["Rule check: `theorems_zc_rule_summary.csv` is not in this folder; run `python tools/zc_rule_check.py`."]
    variants = [k[2:] for k in rule[0] if k.startswith("t_")]
    lines = ["Is the rule's rarity at large Z an artefact of the rule? The full study's runs (M = 2, sigma = 0, cap "
             "t = 12 800) judged by the rule (`ours`: cos >= 0.9, |v_i| >= 0.1 v*/Z) and by variants: `cos0.8`, "
             "`vmin0.25` (small nodes do not count), `vmass` (active = the largest nodes carrying 95 % of sum |v_i|). "
             "Cells: the first checkpoint where each holds, `-` if none by the cap (`theorems_zc_rule_summary.csv`; per "
             "checkpoint, with the nodes that fail: `theorems_zc_rule.csv`; `python tools/zc_rule_check.py`).", "",
             "| M | Z | seed | eps_g at the cap | " + " | ".join(variants) + " |", "|---" * (4 + len(variants)) + "|"]
    for r in rule:
        cells = [("-" if not np.isfinite(float(r[f"t_{v}"])) else f"{float(r[f't_{v}']):g}") for v in variants]
        lines.append(f"| {r['M']} | {r['Z']} | {r['seed']} | {float(r['eg_cap']):.3g} | " + " | ".join(cells) + " |")
    return lines


def markdown(verdicts: list[dict], runs: list[dict], students: list[dict], stalls: list[dict],
             training: list[dict], cfg: dict, eta: list[dict] | None = None, rule: list[dict] | None = None) -> str:
    stem = f"theorems_zc{cfg.get('label', '')}"
    folder = Path(cfg["sims_dir"]).name if cfg.get("sims_dir") else "sims"   # sims/full, sims/noisy: their own
    sims = "" if folder == "sims" else f" --sims sims/{folder}"
    lines = ["# Theorems 1-3 across the (Z, c) plane: ansatz, ODE and converged SGD students", "",
             f"Regenerate with `python -m tsdyn.sweep theorems_zc{sims}`. Margins are per unit M v*^2, oriented so that "
             "the theorem claims `margin >= 0`; DPP, random and importance node pruning are exact expectations "
             "(enumerated), random edge pruning is the expected network of Lemma 6 at c = k_n/K. Kernels: `Q` (raw), "
             "`Qcos` (unit diagonal), `rbf` (DIVNET's RBF on post-activations, beta = 10/n, in the limit of many inputs, "
             f"closed form from Q). Data: `{stem}.csv` (every margin), `{stem}_verdicts.csv`, "
             f"`{stem}_runs.csv`, `{stem}_students.csv` (departures from A6), `{stem}_stalls.csv`, "
             f"`{stem}_training.csv`.", "",
             f"Training: order-parameter engine, N = {cfg['N']}, eta = {cfg['lr']}, v* = {cfg['vstar']}, seeds "
             f"{cfg['seeds']}, in segments on the doubling grid {cfg['t_first']:g} * 2^j up to the cap t = {cfg['t_cap']:g}, "
             f"at least to t = {cfg['t_paper']:g} (the paper's 800 000 samples, level sgd_800k). Rule "
             f"(tsdyn.dynamics.specialise): every active node (|v_i| >= {cfg['v_min']:g} v*/Z) at cosine >= "
             f"{cfg['cos_min']:g} with its teacher node, every teacher node covered, the assignment unchanged over the "
             "last doubling. Level sgd: the student when the rule first held (or at the cap); ode: the ODE from the "
             "same start to the same t.", "", "## Convergence", "",
             "| M | Z | sigma | rule met | median t_stop | median plateau exit t (SGD / ODE) | median eps_g at t_stop (SGD / ODE) | median eps_g at t = 1600 | ODE rule met |",
             "|---|---|---|---|---|---|---|---|---|"]
    count = Counter(verdicts)
    groups = defaultdict(list)
    for r in runs:
        groups[(r["M"], r["Z"], r["sigma"])].append(r)
    for (M, Z, sigma), rs in sorted(groups.items()):
        lines.append(f"| {M} | {Z} | {sigma:g} | {sum(r['met'] for r in rs)}/{len(rs)} | "
                     f"{np.median([r['t_stop'] for r in rs]):g} | {np.median([r['t_exit'] for r in rs]):.3g} / "
                     f"{np.median([r['ode_t_exit'] for r in rs]):.3g} | {np.median([r['eg_stop'] for r in rs]):.3g} / "
                     f"{np.median([r['ode_eg_stop'] for r in rs]):.3g} | {np.median([r['eg_800k'] for r in rs]):.3g} | "
                     f"{sum(np.isfinite(r['ode_t_specialised']) for r in rs)}/{len(rs)} |")
    lines += ["", "## Stalls: runs that did not specialise by the cap, and which fixed point they sit at", "",
              "covered: teacher nodes with an aligned active node; unaligned: active nodes below the cosine, as "
              "`largest/second-largest |cos|` with the teacher nodes; drift: |dy/dt| / |y| of the ODE at the state; "
              "plateau: eps_g of the student-symmetric fixed point (tsdyn.dynamics.plateau).", "",
              "| M | Z | sigma | seed | level | t | eps_g | plateau eps_g | covered | active sizes | unaligned | Q_ii max | drift |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in stalls:
        lines.append(f"| {s['M']} | {s['Z']} | {s['sigma']:g} | {s['seed']} | {s['level']} | {s['t']:g} | {s['eg']:.3g} | "
                     f"{s['plateau_eg']:.3g} | {s['covered_teachers']}/{s['M']} | {s['active_sizes']} | "
                     f"{s['unaligned_cosines'] or '-'} | {s['Qii_max']:.3g} | {s['relative_drift']:.2g} |")
    lines += [""] + eta_lines(eta, cfg["lr"]) + [""] + rule_lines(rule)
    for sigma in sorted({r["sigma"] for r in verdicts}):
        lines += ["", f"## Verdicts, sigma = {sigma:g}: holds / cases over every (Z, k_n <= M) and seed", ""]
        lines += verdict_table(count, sigma)
        lines += ["", f"### Where the converged SGD verdict (majority of seeds) differs from the ansatz, sigma = {sigma:g}", ""]
        lines += departure_lines(count, students, sigma)
    if training:
        lines += ["", "## Along training (sigma = 0): from which t the mean margin holds to the end (SGD / ODE)", "",
                  "`never`: negative at the last record. Plateau exit: eps_g below half the symmetric plateau's.", ""]
        lines += holds_from(training, runs)
    lines += ["", "## How far the students are from A6 (median over seeds, sigma = 0, level sgd)", "",
              "| M | Z | active | equal blocks | Q_ii spread | |v| spread | min alignment | cross-block max cos | "
              "P(two of one block), DPP Q / Qcos / rbf at k_n = M | norm bias of Q | importance: distinct blocks at k_n = M |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    by = defaultdict(list)
    for s in students:
        if s["sigma"] == 0 and s["level"] == "sgd":
            by[(s["M"], s["Z"])].append(s)
    for (M, Z), ss in sorted(by.items()):
        med = lambda k: float(np.median([s[k] for s in ss]))  # noqa: E731
        lines.append(f"| {M} | {Z} | {med('active'):g}/{M * Z} | {sum(s['equal_blocks'] for s in ss)}/{len(ss)} | "
                     f"{med('Qii_spread'):.2f} | {med('absv_spread'):.2f} | {med('align_min'):.2f} | "
                     f"{med('cross_block_max'):.2f} | {med('p_same_block_Q'):.3f} / {med('p_same_block_Qcos'):.3f} / "
                     f"{med('p_same_block_rbf'):.3f} | {med('norm_bias_Q'):.2f} | {med('imp_distinct_blocks'):.2f} of {M} |")
    return "\n".join(lines) + "\n"


#: Departures from A6 (columns of theorems_zc_students.csv) and their value under A6; "{k}": the DPP kernel.
DEPARTURES = {"p_same_block_{k}": "0", "norm_bias_{k}": "1", "imp_distinct_blocks": "random", "Qii_spread": "0",
              "absv_spread": "0", "align_min": "1", "cross_block_max": "0", "eg": "0"}


def _auc(a: list[float], b: list[float]) -> float:
    """P(x > y) + P(x = y) / 2 for x from ``a``, y from ``b`` (the Mann-Whitney AUC); NaN if either is empty."""
    if not a or not b:
        return float("nan")
    x, y = np.asarray(a)[:, None], np.asarray(b)[None, :]
    return float(np.mean((x > y) + 0.5 * (x == y)))


def departure_lines(count: Counter, students: list[dict], sigma: float, level: str = "sgd") -> list[str]:
    """Per theorem and kernel: the (M, Z, k_n) points where the majority verdict of ``level`` differs from the ansatz,
    and the departures from A6 that separate the students of those settings from the others best (AUC, medians)."""
    points = sorted({(r["M"], r["Z"], r["kn"]) for r in count.rows})
    out = []
    for t in THEOREMS:
        for kernel in ZC_KERNELS:
            differ = []
            for M, Z, kn in points:
                a = count(sigma=sigma, level="ansatz", kernel="Q", theorem=t, M=M, Z=Z, kn=kn)
                s = count(sigma=sigma, level=level, kernel=kernel, theorem=t, M=M, Z=Z, kn=kn)
                if a[1] and s[1] and (a[0] == a[1]) != (s[0] / s[1] >= 0.5):
                    differ.append((M, Z, kn, a[0] == a[1], s[0], s[1]))
            if not differ:
                continue
            bad = {(M, Z) for M, Z, *_ in differ}
            mine = [x for x in students if x["sigma"] == sigma and x["level"] == level]
            ranked = []
            for name, a6 in DEPARTURES.items():
                col = name.format(k=kernel)
                d = [float(x[col]) for x in mine if (x["M"], x["Z"]) in bad and np.isfinite(float(x[col]))]
                g = [float(x[col]) for x in mine if (x["M"], x["Z"]) not in bad and np.isfinite(float(x[col]))]
                auc = _auc(d, g)
                if np.isfinite(auc):
                    ranked.append((abs(auc - 0.5), col, a6, auc, np.median(d), np.median(g)))
            ranked.sort(reverse=True)
            parts = []
            for ah in (True, False):
                pts = [f"M={M} Z={Z} k_n={kn} ({h}/{n})" for M, Z, kn, a, h, n in differ if a == ah]
                if pts:
                    parts.append(f"where the ansatz {'holds' if ah else 'fails'}: " + ", ".join(pts))
            where = "; ".join(parts) + " (seeds where it holds)"
            why = "; ".join(f"`{col}` {md:.3g} against {mg:.3g} elsewhere (A6: {a6}; AUC {auc:.2f})"
                            for _, col, a6, auc, md, mg in ranked[:2])
            out.append(f"- **{t}, {kernel}** ({STATEMENT[t]}): differs {where}. Departures that separate these "
                       f"settings' students from the others most: {why or 'none measurable (every setting differs)'}.")
    return out or ["- none: every trained verdict agrees with the ansatz."]


def theorems_section(verdicts: list[dict], students: list[dict], cfg: dict, long_form: str) -> str:
    """The (Z, c) section of figures/theorems.md (``theorems.d/20_theorems_zc.md``): the verdicts per level and
    kernel, and per theorem and kernel where the converged students' verdict differs from the ansatz, with the
    departure from A6 that goes with it (its median where the verdict differs against where it agrees)."""
    count = Counter(verdicts)
    sigmas = sorted({r["sigma"] for r in verdicts})
    lines = ["## Theorems 1-3 across the (Z, c) plane (target `theorems_zc`, issue 12)", "",
             "Converged students at Z = K/M = " + "; ".join(f"{', '.join(map(str, st['Z']))} (M = {st['M']})"
                                                            for st in cfg["students"]) + f", {len(cfg['seeds'])} seeds, "
             f"sigma = {', '.join(f'{x:g}' for x in sigmas)}, order-parameter engine at N = {cfg['N']}, trained until "
             f"the specialisation rule held (cap t = {cfg['t_cap']:g}); levels: ansatz (closed form at that Z, c), "
             "ode (the ODE from each seed's start to the same t), sgd (the converged student), sgd_800k (the "
             "paper's 800 000 samples). Every node-pruning expectation is exact (inclusion probabilities and "
             "enumeration; tsdyn.pruning.zc_exact), random edge is the expected network of Lemma 6. DPP kernels: "
             "Q (raw), Qcos (unit diagonal, equal to Q under A6), rbf (DIVNET). Long form, with the stalls, the "
             f"along-training table and the departures from A6: [{long_form}]({long_form}); data: "
             f"`{long_form[:-3]}.csv`, `{long_form[:-3]}_students.csv`.", ""]
    for sigma in sigmas:
        lines += [f"### sigma = {sigma:g}: cases that hold / cases, over every (M, Z, k_n <= M) and seed", ""]
        lines += verdict_table(count, sigma)
        lines += ["", f"Where the converged students' verdict (majority of seeds, level sgd) differs from the ansatz "
                  f"(sigma = {sigma:g}), and which departures from A6 go with it: measured per student "
                  "(`theorems_zc_students.csv`), the two that separate the students of the settings where it differs "
                  "from the rest best (Mann-Whitney AUC, 0.5: no separation), with their medians. An association, "
                  "not a proof of cause; the long form has every measure per setting.", ""]
        lines += departure_lines(count, students, sigma)
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"
