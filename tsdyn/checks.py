"""Input checks that raise errors naming the parameter and its valid range.

Every public entry point validates through these helpers so that messages read
the same everywhere: ``"K must be an integer >= M = 2, got 1"``.
"""
from __future__ import annotations

import numbers

import numpy as np


class DivergenceError(FloatingPointError):
    """A run left the finite numbers (or the valid domain of the theory).

    Attributes
    ----------
    step : int or None
        SGD step at which the divergence was detected (simulator).
    time : float or None
        Time t at which it was detected.
    """

    def __init__(self, message: str, *, step: int | None = None, time: float | None = None):
        super().__init__(message)
        self.step = step
        self.time = time


def check_int(name: str, value, *, low: int | None = None, high: int | None = None,
              low_name: str | None = None, high_name: str | None = None) -> int:
    """Return ``value`` as int, or raise ``ValueError`` naming ``name`` and the range.

    ``low_name`` / ``high_name`` describe a bound that is itself a parameter
    (``">= M = 2"``).
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be an integer{_range_text(low, high, low_name, high_name)}, got {value!r}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be an integer{_range_text(low, high, low_name, high_name)}, got {value}")
    return value


def check_real(name: str, value, *, low: float | None = None, high: float | None = None,
               low_open: bool = False, high_open: bool = False) -> float:
    """Return ``value`` as a finite float inside the given bounds, else ``ValueError``."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    bad_low = low is not None and (value <= low if low_open else value < low)
    bad_high = high is not None and (value >= high if high_open else value > high)
    if bad_low or bad_high:
        lo = "" if low is None else ("(" if low_open else "[") + f"{low}"
        hi = "" if high is None else f"{high}" + (")" if high_open else "]")
        if low is not None and high is not None:
            rng = f"in {lo}, {hi}"
        elif low is not None:
            rng = f"{'>' if low_open else '>='} {low}"
        else:
            rng = f"{'<' if high_open else '<='} {high}"
        raise ValueError(f"{name} must be {rng}, got {value}")
    return value


def check_array(name: str, value, *, shape: tuple | None = None, ndim: int | None = None) -> np.ndarray:
    """Return ``value`` as a finite float array of the given shape / ndim.

    ``shape`` may contain ``None`` for a free axis.
    """
    arr = np.asarray(value, dtype=float)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-d array, got shape {arr.shape}")
    if shape is not None:
        if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
            want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite entries")
    return arr


def check_values(name: str, x, *, low: float | None = None, high=None, integer: bool = False) -> np.ndarray:
    """Return ``x`` as a float array whose every entry is finite and in [low, high] (and whole if
    ``integer``), else ``ValueError`` naming ``name``, the range and the first bad entry.

    The vectorised sibling of :func:`check_int` / :func:`check_real` for functions that broadcast;
    ``high`` may itself be an array (a bound set by another argument).
    """
    arr = np.asarray(x, dtype=float)
    high = None if high is None else np.asarray(high, dtype=float)
    bad = ~np.isfinite(arr)
    if low is not None:
        bad |= arr < low
    if high is not None:
        bad |= arr > high + 1e-12 * np.maximum(1.0, np.abs(high))
    if integer:
        bad |= arr != np.round(arr)
    if np.any(bad):
        kind = "an integer" if integer else "a number"
        if low is not None and high is not None:
            where = f"in [{low:g}, {_describe_bound(high)}]"
        else:
            where = f">= {low:g}" if low is not None else f"<= {_describe_bound(high)}"
        raise ValueError(f"{name} must be {kind} {where}, got {arr[bad].flat[0]:g}")
    return arr


def _describe_bound(high: np.ndarray) -> str:
    return f"{float(high.flat[0]):g}" if np.unique(high).size == 1 else "the bound set by the other arguments"


def _range_text(low, high, low_name, high_name) -> str:
    parts = []
    if low is not None:
        parts.append(f">= {low_name} = {low}" if low_name else f">= {low}")
    if high is not None:
        parts.append(f"<= {high_name} = {high}" if high_name else f"<= {high}")
    return (" " + " and ".join(parts)) if parts else ""
