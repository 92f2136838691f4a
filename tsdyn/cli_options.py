"""The model-breadth options shared by ``python -m tsdyn.simulate`` and ``python -m tsdyn.ode`` (issue 16).

``--activation``, ``--weight-decay``, ``--batch``, ``--lr-schedule`` and
``--lr2-schedule`` mean the same on both command lines, so one function adds
them to a parser and one turns the parsed values into the keyword arguments of
:func:`tsdyn.simulate.simulate` and :func:`tsdyn.dynamics.ode.integrate`.
Options left at their defaults are not passed at all: a default command line
calls exactly the function it called before these options existed.
"""
from __future__ import annotations

import argparse

from tsdyn import conventions as cv
from tsdyn.checks import check_int, check_real
from tsdyn.dynamics.schedules import Schedule

#: The defaults of the breadth options (today's model: erf, no decay, one sample per step, constant rates).
DEFAULTS = dict(activation=cv.DEFAULT_ACTIVATION, weight_decay=0.0, batch=1, lr_schedule=None, lr2_schedule=None)


def add_breadth_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the five breadth options to ``p`` (their values are checked by :func:`breadth_options`)."""
    g = p.add_argument_group("model breadth (issue 16)")
    g.add_argument("--activation", default=cv.DEFAULT_ACTIVATION, metavar="NAME",
                   help=f"activation of teacher and student: one of {', '.join(cv.ACTIVATIONS)}, or a "
                        "TEACHER/STUDENT pair such as erf/relu (default: %(default)s)")
    g.add_argument("--weight-decay", type=float, default=0.0, metavar="KAPPA",
                   help="weight decay kappa >= 0: each step multiplies both layers by 1 - kappa/N (default %(default)g)")
    g.add_argument("--batch", type=int, default=1, metavar="B",
                   help="samples per SGD step, >= 1: the gradient is their mean, t = steps/N (default %(default)d)")
    g.add_argument("--lr-schedule", default=None, metavar="SPEC",
                   help="schedule of both rates: 'constant', 'inverse:TAU' (eta/(1 + t/TAU)) or "
                        "'piecewise:F0,T1:F1,...' (factor F0 from t = 0, F1 from T1, ...); default constant")
    g.add_argument("--lr2-schedule", default=None, metavar="SPEC",
                   help="schedule of the second-layer rate alone (same forms); default: --lr-schedule")
    return p


def breadth_options(args: argparse.Namespace, *, ode: bool = False) -> dict:
    """The checked, non-default breadth options of parsed ``args`` as keyword arguments.

    ``ode``: the options are for the ODE, which has no reduction for a ReLU student of an
    erf teacher (:func:`tsdyn.activation_integrals.ode_supported`); refused before any work.
    Raises a one-line ``ValueError`` naming the option and its valid range.
    """
    from tsdyn.activation_integrals import ode_supported

    try:
        activation = cv.activation_label(args.activation)
    except ValueError as exc:
        raise ValueError(f"--activation: {exc}") from None
    if ode and not ode_supported(activation):
        raise ValueError(f"--activation {activation}: the ODE has no reduction for a ReLU student of an erf teacher; "
                         "simulate it instead (python -m tsdyn.simulate --activation erf/relu)")
    options = dict(activation=activation,
                   weight_decay=check_real("--weight-decay", args.weight_decay, low=0.0),
                   batch=check_int("--batch", args.batch, low=1),
                   lr_schedule=_schedule("--lr-schedule", args.lr_schedule),
                   lr2_schedule=_schedule("--lr2-schedule", args.lr2_schedule))
    return {k: v for k, v in options.items() if v != DEFAULTS[k]}


def _schedule(option: str, spec: str | None) -> Schedule | None:
    """A parsed schedule (None when not given), its error message naming the command-line option."""
    if spec is None:
        return None
    try:
        schedule = Schedule.parse(spec)
    except ValueError as exc:
        raise ValueError(f"{option}: {exc}") from None
    return None if option == "--lr-schedule" and schedule.kind == "constant" else schedule
