"""Input checks that raise errors naming the parameter and its valid range.

Every public entry point validates through these helpers so that messages read
the same everywhere: ``"K must be an integer >= M = 2, got 1"``. They are strict:
a boolean is not a number, a string is not a number, a float is an integer only
if it is integral (``100.0``, never ``100.5``), indices are distinct integers in
range and masks are boolean arrays of the right shape.
"""
from __future__ import annotations

import numbers
import os
import tempfile
from pathlib import Path

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
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be an integer{_range_text(low, high, low_name, high_name)}, got {value!r}")
    if not isinstance(value, numbers.Integral):
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
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    value = float(value)
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


def check_bool(name: str, value) -> bool:
    """Return ``value`` if it is a boolean (Python or NumPy), else ``ValueError``: 0, 1 and "no" are not."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_choice(name: str, value, choices) -> object:
    """Return ``value`` if it is one of ``choices``, else ``ValueError`` listing them."""
    def same(c) -> bool:   # True is not 1, "1" is not 1: only equal values of the same kind match
        return value is c or (isinstance(value, str) == isinstance(c, str)
                              and isinstance(value, (bool, np.bool_)) == isinstance(c, bool)
                              and c is not None and value is not None and value == c)

    if not any(same(c) for c in choices):
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def check_indices(name: str, value, n: int, *, ndim: int = 1) -> np.ndarray:
    """Return ``value`` as an int array of distinct node indices in 0..n-1 (per row if ``ndim == 2``).

    Booleans, floats (even 1.0) and strings are refused: an index array that is
    not of integer dtype is almost always a mask or a value passed by mistake.
    """
    want = f"distinct node indices in 0..{n - 1}" + (" (per row)" if ndim == 2 else "")
    arr = np.asarray(value) if not isinstance(value, (str, bytes)) else np.asarray([value])
    if ndim == 2:
        arr = np.atleast_2d(arr) if arr.ndim == 1 else arr
    if arr.ndim != ndim or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{name} must list {want} as {'a 2-d integer array' if ndim == 2 else 'integers'}, got {_short(value)}")
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise ValueError(f"{name} must list {want}, got values in [{arr.min()}, {arr.max()}]")
    if arr.size and np.any(np.diff(np.sort(arr, axis=-1), axis=-1) == 0):
        raise ValueError(f"{name} must list {want}, got a repeated index in {_short(value)}")
    return arr.astype(int)


def check_mask(name: str, value, shape: tuple[int, ...]) -> np.ndarray:
    """Return ``value`` as a boolean array of ``shape``: a float mask of 0.3 is an error, not 'prune nothing'."""
    arr = np.asarray(value)
    if arr.dtype != np.bool_:
        raise ValueError(f"{name} must be a boolean array of shape {shape}, got dtype {arr.dtype}")
    if arr.shape != tuple(shape):
        raise ValueError(f"{name} must be a boolean array of shape {shape}, got shape {arr.shape}")
    return arr


def check_times(name: str, value, *, low: float = 0.0, high: float | None = None) -> np.ndarray:
    """Return ``value`` as a non-empty, non-decreasing 1-d float array of finite times in [low, high]."""
    if isinstance(value, (str, bytes)) or (np.ndim(value) == 1 and any(isinstance(x, (bool, np.bool_, str, bytes))
                                                                      for x in np.asarray(value, dtype=object))):
        raise ValueError(f"{name} must be a list of real times, got {_short(value)}")
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a list of real times, got {_short(value)}") from None
    rng = f"[{low:g}, {high:g}]" if high is not None else f">= {low:g}"
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-d list of times {rng}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite times {rng}, got {_short(value)}")
    if arr.min() < low or (high is not None and arr.max() > high):
        where = f"lie in {rng}" if high is not None else f"be times {rng}"
        raise ValueError(f"{name} must {where}, got values in [{arr.min():g}, {arr.max():g}]")
    if np.any(np.diff(arr) < 0):
        raise ValueError(f"{name} must be sorted in non-decreasing order")
    return arr


def check_tolerance(name: str, value) -> float:
    """A solver tolerance: a real number in (0, 1]; a relative error above 1 is no solution at all."""
    return check_real(name, value, low=0.0, low_open=True, high=1.0)


def check_writable(name: str, path: str | os.PathLike, *, directory: bool = False) -> Path:
    """Check, before any work, that the file ``path`` (or the directory, if ``directory``) can be written.

    Creates missing parent directories (or the directory) and writes and
    removes a probe file there; raises ``ValueError`` naming ``name`` otherwise.
    """
    path = Path(path)
    folder = path if directory else path.parent
    if not directory and path.is_dir():
        raise ValueError(f"{name}: {path} is a directory, not a file name")
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{name}: {folder} is not a directory")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder, prefix=".tsdyn-probe-"):
            pass
        if not directory and path.exists() and not os.access(path, os.W_OK):
            raise PermissionError(f"{path} is read-only")
    except OSError as exc:
        raise ValueError(f"{name}: cannot write to {path if not directory else folder} ({exc.strerror or exc})") from None
    return path


def available_memory() -> int | None:
    """Bytes of memory available to a new process (Linux ``MemAvailable``), or None if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(what: str, needed: float) -> None:
    """Refuse, before computing, work that needs more memory than is available (``what`` names its size)."""
    free = available_memory()
    if free is not None and needed > free:
        raise ValueError(f"{what} needs about {needed / 2**30:.3g} GiB of memory, more than the "
                         f"{free / 2**30:.3g} GiB available; make it smaller")


def _short(value) -> str:
    text = repr(value.tolist() if isinstance(value, np.ndarray) else value)
    return text if len(text) <= 60 else text[:57] + "..."


def _range_text(low, high, low_name, high_name) -> str:
    parts = []
    if low is not None:
        parts.append(f">= {low_name} = {low}" if low_name else f">= {low}")
    if high is not None:
        parts.append(f"<= {high_name} = {high}" if high_name else f"<= {high}")
    return (" " + " and ".join(parts)) if parts else ""
