"""A cache that loses nothing: one atomically written ``.npz`` per finished job.

Entries live at ``<root>/<job.key()>.npz``. Each carries its own metadata
(function, parameters, format version), so a file that does not belong to its
key - corrupt, truncated, from another version or copied in by hand - is
recognised, reported in plain words, moved aside and recomputed. An entry of
a job with inputs also records its input jobs' keys.

A training run is stored as :meth:`tsdyn.trajectory.Trajectory.to_arrays`, the
same arrays as its ``.npz`` file, and read back with :meth:`Trajectory.from_arrays`
(in :mod:`tsdyn.targets.students`, the one place the targets read runs).
"""
from __future__ import annotations

import json
import logging
import os
import zipfile
from pathlib import Path

import numpy as np

from tsdyn.atomic import atomic_open
from tsdyn.sweep.job import FORMAT_VERSION, Job

log = logging.getLogger("tsdyn.sweep")

_META = "__tsdyn_meta__"


class CacheError(RuntimeError):
    """A cache entry exists but cannot be used (the message says which file and why)."""


class Cache:
    """Directory of finished job results keyed by :meth:`Job.key`."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, job: Job) -> Path:
        return self.root / f"{job.key()}.npz"

    def load(self, job: Job) -> dict | None:
        """The cached result of ``job``, or ``None`` if absent.

        Raises
        ------
        CacheError
            If the file exists but is corrupt or belongs to another job / format.
        """
        path = self.path(job)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                if _META not in data:
                    raise CacheError(f"cache file {path} is foreign: it has no tsdyn metadata")
                meta = json.loads(str(data[_META]))
                result = {k: _unwrap(data[k]) for k in data.files if k != _META}
        except CacheError:
            raise
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
            raise CacheError(f"cache file {path} is corrupt ({type(exc).__name__}: {exc})") from None
        expected = _identity(job)
        found = {k: meta.get(k) for k in expected}
        if found != expected:
            raise CacheError(
                f"cache file {path} is foreign: it was written for {found['func']} "
                f"(format {found['format']}), not for job {job.name!r} ({job.func}, format {FORMAT_VERSION})")
        return result

    def load_or_quarantine(self, job: Job) -> dict | None:
        """Like :meth:`load`, but an unusable file is reported, renamed ``*.bad`` and treated as absent.

        Race-safe: the file is claimed by an atomic rename to a name of this
        process's own; if what it claimed is no longer the file it read (another
        process quarantined that one and stored a good result meanwhile), the
        claimed file is put back. In a read-only cache the file stays where it
        is and the run is recomputed.
        """
        path = self.path(job)
        try:
            seen = path.stat()
            return self.load(job)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except CacheError as exc:
            claim = path.with_name(f"{path.name}.{os.getpid()}.claim")
            try:
                os.replace(path, claim)
            except FileNotFoundError:
                log.warning("%s; another process has moved it aside; will recompute the run", exc)
                return None
            except OSError as err:
                log.warning("%s; cannot move it aside (%s); will recompute the run", exc, err.strerror or err)
                return None
            if not _same_file(claim.stat(), seen):
                os.replace(claim, path)     # a good entry stored since: not ours to quarantine
                return self.load_or_quarantine(job)
            bad = path.with_suffix(".npz.bad")
            os.replace(claim, bad)
            log.warning("%s; moved it to %s and will recompute the run", exc, bad.name)
            return None

    def store(self, job: Job, result: dict) -> Path:
        """Write ``result`` atomically (temporary file + rename)."""
        if not isinstance(result, dict):
            raise TypeError(f"job {job.name!r} must return a dict, got {type(result).__name__}")
        meta = {**_identity(job), "name": job.name}
        reserved = {"file", "allow_pickle", _META} & set(result)
        if reserved:
            raise ValueError(f"job {job.name!r} returned reserved result names {sorted(reserved)}; rename them")
        arrays = {k: np.asarray(v) for k, v in result.items()}
        for k, v in arrays.items():
            if v.dtype == object:
                raise TypeError(f"job {job.name!r} returned {k!r} of object dtype; return arrays, numbers or strings")
        path = self.path(job)
        with atomic_open(path, "wb") as fh:
            np.savez(fh, **arrays, **{_META: np.array(json.dumps(meta, sort_keys=True))})
        return path


class ReadOnlyCache(Cache):
    """A cache that is read but not written (its folder is not writable): runs are computed and kept in memory."""

    def load_or_quarantine(self, job: Job) -> dict | None:
        try:
            return self.load(job)
        except CacheError as exc:
            log.warning("%s; the cache is read-only, so it stays; will recompute the run", exc)
            return None

    def store(self, job: Job, result: dict) -> Path | None:
        return None


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_ino, a.st_dev, a.st_size, a.st_mtime_ns) == (b.st_ino, b.st_dev, b.st_size, b.st_mtime_ns)


def _identity(job: Job) -> dict:
    """What a cache entry records of the job it belongs to; the input jobs' keys only if it has inputs
    (so entries of jobs without inputs, written before inputs existed, still load)."""
    identity = {"func": job.func, "params": _jsonable(job.params), "format": FORMAT_VERSION}
    if job.inputs:
        identity["inputs"] = job.input_keys()
    return identity


def _unwrap(arr: np.ndarray):
    if arr.ndim == 0:
        return arr.item()
    return arr


def _jsonable(params: dict) -> dict:
    # Round-trip through JSON so tuples and lists compare equal to what was stored.
    return json.loads(json.dumps(params, sort_keys=True))
