"""Atomic file writes: a reader never sees a half-written result.

Every file tsdyn writes (CSV, NPZ, cache entries, figures) goes through
:func:`atomic_open`: it writes a temporary file in the target directory and
renames it over the target only when the write finished without error.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
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
        try:
            # mkstemp makes the file owner-only; results are ordinary files, readable as the umask allows.
            os.chmod(self.tmp, 0o666 & ~_UMASK)
            self.fh = os.fdopen(fd, self.mode, **self.kwargs)
        except BaseException:
            os.close(fd)
            os.unlink(self.tmp)
            raise
        return self.fh

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.fh.flush()
                os.fsync(self.fh.fileno())  # the data is on disk before the name points at it
            self.fh.close()
        except BaseException:
            os.unlink(self.tmp)
            raise
        if exc_type is not None:
            os.unlink(self.tmp)
            return False
        os.replace(self.tmp, self.path)
        return False


@contextmanager
def replaced_together(paths):
    """Write a group of files (CSV + NPZ of one run) so that they are replaced together.

    ``with replaced_together([a, b]) as staged:`` yields ``{path: temporary path}``;
    write each file to its temporary path. When the block succeeds every
    written file is renamed over its target, and a target whose file the block
    did not write is removed, so no file of an earlier run stays beside the new
    ones. If the block raises, the targets are left untouched.
    """
    paths = [Path(p) for p in paths]
    staged = {}
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".group.tmp", dir=path.parent)
        os.close(fd)
        os.unlink(tmp)          # only the name is reserved: the writer creates the file
        staged[path] = Path(tmp)
    try:
        yield staged
    except BaseException:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)
        raise
    for path, tmp in staged.items():
        if tmp.exists():
            os.replace(tmp, path)
        else:
            path.unlink(missing_ok=True)


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once at import: changing the umask later, even briefly, would race with other threads.
_UMASK = _read_umask()
