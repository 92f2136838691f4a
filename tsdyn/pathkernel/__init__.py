"""Pruning at initialisation by path-kernel scores (path-kernel paper): the path
kernel Pi = J J^T and its trace (:mod:`.kernel`), SynFlow, SNIP, GraSP (:mod:`.scores`)."""
