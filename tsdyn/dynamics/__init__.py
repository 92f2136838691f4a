"""Dynamics of online SGD: the exact order-parameter engine (and, after the lead's move, the weights engine)."""
