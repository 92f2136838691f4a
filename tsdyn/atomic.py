"""Atomic file writes: a reader never sees a half-written result.

Every file tsdyn writes (CSV, NPZ, cache entries, figures) goes through
:func:`atomic_open`: it writes a temporary file in the target directory and
renames it over the target only when the write finished without error.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


class atomic_open:
    """Context manager: ``with atomic_open(path, "w") as fh: ...``.

    The temporary file lives beside ``path`` (same file system, so
    :func:`os.replace` is atomic) and is removed if the block raises.
    """

    def __init__(self, path: str | os.PathLike, mode: str = "w", **kwargs):
        if not any(c in mode for c in "wx"):
            raise ValueError(f"mode must be a write mode ('w', 'wb', ...), got {mode!r}")
        self.path = Path(path)
        self.mode = mode
        self.kwargs = kwargs

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(prefix="." + self.path.name + ".", suffix=".tmp", dir=self.path.parent)
        # mkstemp makes the file owner-only; results are ordinary files, readable as the umask allows.
        os.chmod(self.tmp, 0o666 & ~_umask())
        self.fh = os.fdopen(fd, self.mode, **self.kwargs)
        return self.fh

    def __exit__(self, exc_type, exc, tb):
        self.fh.close()
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            os.unlink(self.tmp)
        return False


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
