"""Learning-rate schedules: text form, factors, and bad input."""
import numpy as np
import pytest

from tsdyn.dynamics.schedules import Schedule, factor_at


def test_constant_is_one():
    s = Schedule.parse(None)
    assert s.kind == "constant" and s.factor(3.0) == 1.0 and Schedule.parse("constant") == s


def test_inverse_is_one_over_one_plus_t_over_tau():
    s = Schedule.parse("inverse:20")
    t = np.array([0.0, 5.0, 20.0, 1000.0])
    np.testing.assert_allclose(s.factor(t), 1.0 / (1.0 + t / 20.0), rtol=1e-15)
    assert Schedule.parse(s.label()) == s


def test_piecewise_switches_at_the_given_times():
    s = Schedule.parse("piecewise:1,10:0.5,100:0.1")
    assert s.times == (10.0, 100.0) and s.factors == (1.0, 0.5, 0.1)
    np.testing.assert_array_equal(s.factor(np.array([0.0, 9.999, 10.0, 99.0, 100.0, 1e9])),
                                  [1.0, 1.0, 0.5, 0.5, 0.1, 0.1])
    assert Schedule.parse(s.label()) == s
    assert factor_at(*s.packed(), 50.0) == 0.5


@pytest.mark.parametrize("spec, words", [
    ("inverse:0", "tau"), ("inverse:-1", "tau"), ("inverse:x", "lr_schedule must be"),
    ("piecewise:1,10:0.5,5:0.1", "increase"), ("piecewise:1,10", "lr_schedule must be"),
    ("piecewise:1,10:-1", "factor"), ("cosine", "lr_schedule must be"), (0.5, "lr_schedule must be"),
    ("constant:3", "lr_schedule must be")])
def test_bad_schedules_name_the_parameter(spec, words):
    with pytest.raises(ValueError, match=words):
        Schedule.parse(spec)
