"""The experiment definitions shipped with tsdyn: one TOML per figure or study (read by :mod:`tsdyn.sweep`)."""
