"""Worker processes that never outlive their sweep.

Three guards, because each alone has a gap: ``PR_SET_PDEATHSIG`` (Linux)
kills a process when its parent dies, but a pool worker's parent is the
forkserver, not the sweep; so the forkserver gets the same signal (see
:mod:`tsdyn.sweep.forkserver_lifeline`) and each worker also watches the
sweep's own pid (a forkserver started earlier without the preload, or another
OS). Workers ignore SIGINT: Ctrl-C reaches the whole process group, and the
main process alone decides to stop them (:func:`stop_pool`).
"""
from __future__ import annotations

import concurrent.futures as cf
import ctypes
import os
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1
#: How often a worker checks that the sweep is still alive (seconds).
POLL_S = 0.5


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux; elsewhere a no-op)."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:      # the parent died before prctl took effect
        os._exit(1)


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie - dead, not yet reaped - does not)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True


def watch(pid: int, interval: float = POLL_S) -> threading.Thread:
    """Daemon thread that ends this process as soon as process ``pid`` is gone."""
    def run():
        while alive(pid):
            time.sleep(interval)
        os._exit(1)

    thread = threading.Thread(target=run, name="tsdyn-lifeline", daemon=True)
    thread.start()
    return thread


def worker_init(main_pid: int) -> None:
    """Pool initializer: die with the forkserver and with the sweep's process ``main_pid``; ignore Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()
    watch(main_pid)


def stop_pool(pool: cf.ProcessPoolExecutor) -> None:
    """Kill the pool's workers at once and drop its queued work (no waiting for running jobs)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for proc in processes:
        try:
            proc.kill()
        except (OSError, AttributeError):
            pass
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        proc.join(timeout=5)
