"""Imported by the sweep's forkserver only (``set_forkserver_preload``): it dies with the sweep.

The forkserver is a child of the sweep's main process and the parent of every
worker; with this, killing the main process (even by SIGKILL) takes the
forkserver down, and with it the workers (see :mod:`tsdyn.sweep.lifeline`).
"""
from tsdyn.sweep.lifeline import die_with_parent

die_with_parent()
