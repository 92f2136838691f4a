"""Chunked Gaussian streams: reproducible rows that any thread can draw in any order.

Row r of a stream belongs to chunk r // R (R = :func:`chunk_rows`), and each
chunk is drawn by ``numpy.random.default_rng`` of its own child of the
stream's ``SeedSequence``. A stream is therefore a pure function of its seed:
the training inputs of :mod:`tsdyn.simulate` are drawn ahead by background
threads, and a test set (:mod:`tsdyn.dynamics.testset`) is regenerated chunk by chunk
instead of being held in memory, with the same values however a caller blocks
the rows.
"""
from __future__ import annotations

import numpy as np

#: Size of one chunk of a stream of float64 rows (also the unit of drawing and training).
CHUNK_BYTES = 4 * 2**20


def chunk_rows(N: int) -> int:
    """Rows R of one chunk: :data:`CHUNK_BYTES` of float64 rows of dimension N."""
    return max(1, CHUNK_BYTES // (8 * N))


def fill_from_stream(parent: np.random.SeedSequence, rows_per_chunk: int, first_row: int,
                     out: np.ndarray) -> np.ndarray:
    """Fill ``out`` with rows ``first_row, first_row + 1, ...`` of a chunked Gaussian stream.

    Rows c*R .. (c+1)*R - 1 of the stream (R = ``rows_per_chunk``) are drawn by
    ``default_rng`` of the c-th child of ``parent`` (the child ``parent.spawn``
    would return), so chunks can be drawn in any order by any thread and the
    values never depend on how a caller blocks them. ``first_row`` must start
    a chunk; ``out`` has shape (rows, N) or (rows,).
    """
    if first_row % rows_per_chunk:
        raise ValueError(f"first_row must be a multiple of rows_per_chunk = {rows_per_chunk}, got {first_row}")
    for lo in range(0, out.shape[0], rows_per_chunk):
        chunk = (first_row + lo) // rows_per_chunk
        child = np.random.SeedSequence(parent.entropy, spawn_key=parent.spawn_key + (chunk,))
        np.random.default_rng(child).standard_normal(out=out[lo:lo + rows_per_chunk])
    return out
