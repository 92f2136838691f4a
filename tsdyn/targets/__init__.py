"""Sweep targets: one module per figure or study (see tsdyn.sweep.job)."""
