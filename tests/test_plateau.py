"""The symmetric plateau: a fixed point of the ODEs, a saddle whose growth rate the ODE itself shows."""
import numpy as np
import pytest

from tsdyn.dynamics.ode import integrate
from tsdyn.dynamics.ode_rhs import OdeRhs, pack, unpack
from tsdyn.dynamics.plateau import find_plateau, first_passage
from tsdyn.order_parameters import OrderParameters

TEACHER = dict(T=np.eye(2), vstar=np.array([4.0, 4.0]))


@pytest.fixture(scope="module", params=[(3, 0.0), (6, 0.25)], ids=["K3-sigma0", "K6-sigma0.25"])
def plateau(request):
    K, sigma = request.param
    return find_plateau(TEACHER["T"], TEACHER["vstar"], K, lr=0.5, sigma=sigma), sigma


def test_plateau_is_a_symmetric_fixed_point(plateau):
    p, sigma = plateau
    s = p.state
    assert p.residual < 1e-12
    off = s.Q[~np.eye(s.K, dtype=bool)]
    assert np.ptp(np.diag(s.Q)) == 0 and np.ptp(off) == 0 and np.ptp(s.v) == 0
    assert np.all(np.ptp(s.R, axis=0) == 0)
    # the ODE started there stays there (to the integration tolerance)
    traj = integrate(s, lr=0.5, sigma=sigma, times=[0.0, 10.0, 30.0])
    assert np.allclose(traj.eg, p.eg, rtol=1e-6)


def test_jacobian_eigenvalues_against_finite_differences(plateau):
    p, sigma = plateau
    s = p.state
    rhs = OdeRhs(s.T, s.vstar, s.K, lr=0.5, lr2=0.5, sigma=sigma)
    y = pack(s.Q, s.R, s.v)
    h = 1e-6
    J = np.column_stack([(rhs(0, y + h * e) - rhs(0, y - h * e)) / (2 * h) for e in np.eye(y.size)])
    mu_fd = np.max(np.linalg.eigvals(J).real)
    assert mu_fd == pytest.approx(p.mu, rel=1e-5)
    # S_K symmetry: the symmetry breaking is (K - 1)-fold degenerate
    assert p.unstable == s.K - 1 and p.mu > 0


def test_a_small_asymmetry_grows_at_rate_mu(plateau):
    """Integrate the nonlinear ODE from plateau + eps * (top eigenvector): the deviation grows like e^{mu t}."""
    p, sigma = plateau
    s = p.state
    rhs = OdeRhs(s.T, s.vstar, s.K, lr=0.5, lr2=0.5, sigma=sigma)
    y0 = pack(s.Q, s.R, s.v)
    vals, vecs = np.linalg.eig(rhs.jacobian(0, y0))
    top = np.real(vecs[:, np.argmax(vals.real)])
    start = OrderParameters(*_with(unpack(y0 + 1e-7 * top / np.linalg.norm(top), s.K, s.M), s))
    times = np.array([0.0, 20.0, 40.0, 60.0])
    traj = integrate(start, lr=0.5, sigma=sigma, times=times, rtol=1e-11, atol=1e-13)
    dev = [np.linalg.norm(pack(Q, R, v) - y0) for Q, R, v in zip(traj.Q, traj.R, traj.v)]
    rates = np.diff(np.log(dev)) / np.diff(times)
    assert rates[1:] == pytest.approx(p.mu, rel=0.02)


def _with(qrv, s):
    Q, R, v = qrv
    return Q, R, s.T, v, s.vstar


def test_exit_slope_of_the_paper_setting():
    """M = 2, K = 6, eta = 0.5, v* = 4: 1/(2 mu) is the 'about 7 per unit of ln N' of issue 11's quick check."""
    p = find_plateau(TEACHER["T"], TEACHER["vstar"], 6, lr=0.5)
    assert 5.0 < p.exit_slope() < 9.0


def test_first_passage_interpolates_in_log():
    t = np.array([0.0, 1.0, 2.0, 3.0])
    e = np.array([1.0, 0.5, 0.1, 0.01])
    assert first_passage(t, e, 0.5 ** 0.5 * 0.1 ** 0.5) == pytest.approx(1.5)
    assert first_passage(t, e, 1e-3) != first_passage(t, e, 1e-3)       # NaN: never below
    assert first_passage(t, e, 0.9, after=1.5) == 2.0
