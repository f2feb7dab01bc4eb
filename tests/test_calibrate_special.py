"""Normal and Gamma quantiles written for the calibration, against published table values."""

import math

import pytest

from clustersim.calibrate.special import gamma_p, gamma_ppf, gamma_q, normal_cdf, normal_ppf


@pytest.mark.parametrize("p, z", [(0.975, 1.959963984540054), (0.95, 1.6448536269514722), (0.9, 1.2815515655446004),
                                  (0.5, 0.0), (1e-6, -4.753424308822899), (0.999999, 4.753424308822899)])
def test_normal_ppf_against_tables(p, z):
    assert normal_ppf(p) == pytest.approx(z, abs=1e-10)  # 1 - 0.999999 is not 1e-6 exactly in binary
    if p != 0.5:
        assert normal_cdf(normal_ppf(p)) == pytest.approx(p, rel=1e-12)


@pytest.mark.parametrize("a, x", [(0.5, 0.3), (0.5, 4.0), (1.0, 2.5), (3.0, 0.7), (10.0, 12.0), (100.0, 90.0)])
def test_gamma_p_closed_forms_and_complement(a, x):
    if a == 0.5:
        assert gamma_p(a, x) == pytest.approx(math.erf(math.sqrt(x)), rel=1e-13)
    if a == 1.0:
        assert gamma_p(a, x) == pytest.approx(1 - math.exp(-x), rel=1e-13)
    if a == 3.0:  # Erlang: 1 - e^-x (1 + x + x^2/2)
        assert gamma_p(a, x) == pytest.approx(1 - math.exp(-x) * (1 + x + x * x / 2), rel=1e-12)
    assert gamma_p(a, x) + gamma_q(a, x) == pytest.approx(1.0, abs=1e-14)


# Chi-square quantiles (A&S Table 26.8; NIST/SEMATECH e-Handbook 1.3.6.7.4): chi2_p(df) = 2 x Gamma(df/2) quantile.
@pytest.mark.parametrize("p, df, chi2", [(0.95, 10, 18.307), (0.05, 1, 0.00393), (0.975, 20, 34.170),
                                         (0.025, 20, 9.591), (0.999, 3, 16.266), (0.01, 100, 70.065),
                                         (0.99, 100, 135.807), (0.5, 2, 1.3863)])
def test_gamma_ppf_against_chi_square_tables(p, df, chi2):
    assert 2 * gamma_ppf(p, df / 2) == pytest.approx(chi2, rel=2e-4, abs=1e-5)


@pytest.mark.parametrize("a", [0.05, 0.5, 1.5, 7.0, 40.5, 1000.5])
@pytest.mark.parametrize("p", [1e-8, 0.05, 0.5, 0.95, 1 - 1e-8])
def test_gamma_ppf_inverts_gamma_p(a, p):
    x = gamma_ppf(p, a)
    assert x > 0
    assert gamma_p(a, x) == pytest.approx(p, rel=1e-9, abs=1e-300)


def test_bad_arguments_are_refused():
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError):
            normal_ppf(bad)
    with pytest.raises(ValueError):
        gamma_ppf(0.5, 0.0)
