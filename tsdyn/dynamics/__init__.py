"""Learning dynamics: online SGD (weights engine), its input streams and test set,
and the order-parameter ODEs of Goldt et al. (2019) / Saad & Solla (1995)."""
