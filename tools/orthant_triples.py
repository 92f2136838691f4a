"""Near-collinear ReLU I4 and P4 against mpmath, quoted in theory/breadth.md and benchmarks/RESULTS.md.

For the covariances of tests/test_orthant_collinear.py (``near_collinear``: one or two collinear
pairs, triples -- two students on one teacher -- and all four fields near one) at 1 - r = 1e-12,
1e-13, 1e-14, prints the relative error of tsdyn's P4 (tsdyn.orthant.orthant) and I4
(tsdyn.activation_integrals.i4, relu) against the 60-digit reference of tests/mp_orthant.py; how
far the 25- and 40-digit references are from it; and how far the exact I4 moves when every entry
of C moves by one ulp (a random sign pattern: the problem's own conditioning).
Run: ``python tools/orthant_triples.py`` (about 3 min).
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import mp_orthant  # noqa: E402
from test_orthant_collinear import near_collinear  # noqa: E402

from tsdyn import conventions as cv  # noqa: E402
from tsdyn.activation_integrals import i4  # noqa: E402
from tsdyn.orthant import orthant  # noqa: E402

SHAPES = {"pair": (3, ((0, 2),)), "two pairs": (1, ((0, 2), (1, 3))), "triple a": (6, ((0, 1), (0, 2))),
          "triple b": (7, ((0, 2), (0, 3))), "triple c": (8, ((2, 0), (2, 1))), "all four": (9, ((0, 1), (0, 2), (0, 3)))}
CASES = [(name, seed, pairs, one_minus_r) for name, (seed, pairs) in SHAPES.items() for one_minus_r in (1e-12, 1e-13, 1e-14)]
CASES.append(("triple d", 112, ((2, 0), (2, 1)), 2e-14))      # 1.9e-7 off with ordered-pair Tallis terms


def reference(C, digits: int) -> tuple[float, float]:
    mp_orthant.DPS = digits
    p4 = mp_orthant.orthant4(C)
    return float(p4), float(mp_orthant.relu_i4(C, p4))


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"{'case':10} {'1-r':>6} {'P4 err':>9} {'I4 err':>9} {'ref25 I4':>9} {'ref40 I4':>9} {'ulp I4':>9}")
    for name, seed, pairs, one_minus_r in CASES:
        C = near_collinear(seed, one_minus_r, pairs)
        p60, i60 = reference(C, 60)
        i25, i40 = reference(C, 25)[1], reference(C, 40)[1]
        signs = np.triu(rng.choice([-1.0, 1.0], size=(4, 4)))
        moved = C + (signs + np.triu(signs, 1).T) * np.spacing(np.abs(C))
        i_moved = reference(moved, 60)[1]
        p = orthant(C, np.arange(4), 4)
        q = i4(C, 0, 1, 2, 3, cv.RELU, cv.RELU, cv.RELU)
        print(f"{name:10} {one_minus_r:6.0e} {abs(p / p60 - 1):9.1e} {abs(q / i60 - 1):9.1e} "
              f"{abs(i25 / i60 - 1):9.1e} {abs(i40 / i60 - 1):9.1e} {abs(i_moved / i60 - 1):9.1e}")


if __name__ == "__main__":
    main()
