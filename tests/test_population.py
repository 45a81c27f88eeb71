"Tests of fermi_nb.population (03_population): band fluxes, draws, stored fits, bad inputs."
import math
import numpy as np
import pandas as pd
import pytest
from scipy import integrate

from fermi_nb.config import load_profile, VALID_CLASSES
from fermi_nb.population import (band_photon_flux, band_energy_flux, spectrum_dnde, draw_population, validate_population,
                                 year_factor_matrix, load_population_params, dnds_number, sample_dnds, ERG_PER_GEV,
                                 CLASS_SPECTRUM)


@pytest.fixture(scope='module')
def quick():
    return load_profile('quick')


@pytest.fixture(scope='module')
def pop(quick):
    return draw_population(quick, np.random.default_rng(3))


def _spectra():
    return pd.DataFrame({
        'spectrum_type': ['LogParabola', 'LogParabola', 'PLEC', 'PLEC'],
        'pivot_gev': [0.5, 4.0, 1.2, 2.0],
        'lp_norm': [3e-9, 1e-12, np.nan, np.nan], 'lp_alpha': [2.6, 1.6, np.nan, np.nan], 'lp_beta': [0.3, 0.0, np.nan, np.nan],
        'plec_norm': [np.nan, np.nan, 5e-9, 2e-11], 'plec_index': [np.nan, np.nan, 1.4, 0.5],
        'plec_expfactor': [np.nan, np.nan, 0.02, 0.002], 'plec_exp_index': [np.nan, np.nan, 2 / 3, 1.0]})


@pytest.mark.parametrize('band', [(1.0, 1000.0), (0.1, 100.0), (0.3, 0.5), (20.0, 1000.0)])
def test_band_fluxes_match_numerical_integration(band):
    df = _spectra()
    emin, emax = band
    for power, fast in ((0, band_photon_flux(df, emin, emax)), (1, band_energy_flux(df, emin, emax) / ERG_PER_GEV)):
        for i in range(len(df)):
            f = lambda lne: spectrum_dnde(df.iloc[[i]], [math.exp(lne)])[0, 0] * math.exp(lne) ** (1 + power)
            slow = integrate.quad(f, math.log(emin), math.log(emax), epsrel=1e-10, epsabs=0, limit=200)[0]
            assert fast[i] == pytest.approx(slow, rel=1e-3)


def test_plec_formula_is_4fgl_dr2_convention():
    # dN/dE = K (E/E0)^-G exp(a (E0^b - E^b)), E in MeV: at the pivot the exponential is 1
    df = _spectra().iloc[[2]]
    assert spectrum_dnde(df, [1.2])[0, 0] == pytest.approx(5e-9)
    e = 10.0
    expected = 5e-9 * (e / 1.2) ** -1.4 * math.exp(0.02 * (1200 ** (2 / 3) - 10000 ** (2 / 3)))
    assert spectrum_dnde(df, [e])[0, 0] == pytest.approx(expected, rel=1e-12)


def test_draw_obeys_profile(quick, pop):
    validate_population(pop, quick)
    assert pop['s1_ph_cm2_s'].min() >= quick.population.s1_min_ph_cm2_s
    assert set(pop['cls']) <= set(quick.population.classes)
    assert np.allclose(band_photon_flux(pop, 1, 1000), pop['s1_ph_cm2_s'], rtol=1e-9)
    assert np.allclose(band_photon_flux(pop, 1, 100), pop['flux1000_ph_cm2_s'], rtol=1e-9)
    assert np.allclose(band_energy_flux(pop, 0.1, 100), pop['eflux_erg_cm2_s'], rtol=1e-9)
    for cls, st in CLASS_SPECTRUM.items():
        assert (pop.loc[pop['cls'] == cls, 'spectrum_type'] == st).all()
    assert pop['glon_deg'].between(0, 360, inclusive='left').all() and pop['glat_deg'].abs().le(90).all()


def test_class_fractions_near_fitted(quick):
    params = load_population_params(quick)
    p = load_profile('quick', {'population.s1_min_ph_cm2_s': 1e-10})
    df = draw_population(p, 11)
    counts = df['cls'].value_counts()
    for cls in VALID_CLASSES:
        expected = dnds_number(params['classes'][cls]['dnds'], 1e-10)
        assert abs(counts[cls] - expected) < 5 * math.sqrt(expected)


def test_year_factors(pop, quick):
    yf = year_factor_matrix(pop)
    assert yf.shape == (len(pop), quick.n_years)
    assert np.allclose(yf.mean(1), 1.0)
    var = pd.Series(yf.var(1), index=pop.index).groupby(pop['cls']).mean()
    assert var['FSRQ'] > var['BLL'] > var['PSR']
    no_var = load_profile('quick', {'population.variability': False})
    assert np.all(year_factor_matrix(draw_population(no_var, 0)) == 1.0)


def test_reproducible_by_seed(quick):
    a, b, c = draw_population(quick, 5), draw_population(quick, np.random.default_rng(5)), draw_population(quick, 6)
    pd.testing.assert_frame_equal(a.drop(columns='year_factor'), b.drop(columns='year_factor'))
    assert np.array_equal(year_factor_matrix(a), year_factor_matrix(b))
    assert len(a) != len(c) or not np.array_equal(a['s1_ph_cm2_s'], c['s1_ph_cm2_s'])


def test_density_scale_and_classes():
    p = load_profile('quick', {'population.density_scale': 0.25, 'population.classes': ['FSRQ', 'PSR']})
    df = draw_population(p, 1)
    assert set(df['cls']) == {'FSRQ', 'PSR'}
    params = load_population_params(p)
    expected = 0.25 * sum(dnds_number(params['classes'][c]['dnds'], p.population.s1_min_ph_cm2_s) for c in ('FSRQ', 'PSR'))
    assert abs(len(df) - expected) < 5 * math.sqrt(expected)


def test_stored_parameters_are_documented(quick):
    params = load_population_params(quick)
    assert len(params['catalog']['sha256']) == 64 and params['fitted_on']
    assert set(params['classes']) == set(VALID_CLASSES)
    total = sum(c['n_4fgl'] for c in params['classes'].values())
    assert total == pytest.approx(params['catalog']['n_sources'], rel=1e-4)


def test_sample_dnds_matches_number():
    d = {'breaks_ph_cm2_s': [3e-9, 5e-11], 'slopes': [2.5, 1.0, 1.7], 's1_ref_ph_cm2_s': 1e-9, 'n_above_ref': 100.0,
         's1_max_ph_cm2_s': 1e-6}
    s = sample_dnds(d, 100000, 1e-11, np.random.default_rng(0))
    frac = np.mean(s >= 1e-9)
    assert frac == pytest.approx(dnds_number(d, 1e-9) / dnds_number(d, 1e-11), abs=0.005)


def test_bad_inputs_rejected(pop, quick):
    bad = pop.copy(); bad.loc[1, 'cls'] = 'XYZ'
    with pytest.raises(ValueError, match="cls='XYZ'"): validate_population(bad, quick)
    bad = pop.copy(); bad.loc[1, 'eflux_erg_cm2_s'] = -1.0
    with pytest.raises(ValueError, match='eflux_erg_cm2_s'): validate_population(bad, quick)
    bad = pop.copy(); bad.loc[0, 'spectrum_type'] = 'BrokenPowerLaw'
    with pytest.raises(ValueError, match="spectrum_type='BrokenPowerLaw'"): band_photon_flux(bad, 1, 10)
    bad = _spectra(); bad.loc[0, 'lp_norm'] = -1.0
    with pytest.raises(ValueError, match='negative lp_norm'): band_photon_flux(bad, 1, 10)
    bad = _spectra(); bad.loc[2, 'plec_index'] = np.nan
    with pytest.raises(ValueError, match='non-finite plec_index'): band_energy_flux(bad, 1, 10)
    with pytest.raises(ValueError, match='emin_gev < emax_gev'): band_photon_flux(_spectra(), 0.0, 10)
    psr_only = load_profile('quick', {'population.classes': ['PSR']})
    with pytest.raises(ValueError, match='simulates'): validate_population(pop, psr_only)


def test_latitude_narrow_fraction_depends_on_flux():
    from fermi_nb.population import narrow_fraction, _draw_latitude
    flat = {'model': 'double_gaussian', 'frac_narrow': 0.6, 'sigma_narrow_deg': 1.0, 'sigma_wide_deg': 25.0}
    assert np.allclose(narrow_fraction(flat, [1e-11, 1e-9, 1e-6]), 0.6)          # old files: no flux dependence
    m = {**flat, 'narrow_logit_slope_per_dex': 1.0, 's1_pivot_ph_cm2_s': 1e-9}
    f = narrow_fraction(m, [1e-11, 1e-9, 1e-8, 1e-6])
    assert f[0] == pytest.approx(0.6) and f[1] == pytest.approx(0.6)             # constant below the pivot
    assert f[2] == pytest.approx(1 / (1 + 0.4 / 0.6 * math.exp(-1.0)))           # logit grows by the slope per dex
    rng = np.random.default_rng(0)
    b_faint = _draw_latitude(m, 20000, rng, np.full(20000, 1e-9))
    b_bright = _draw_latitude(m, 20000, rng, np.full(20000, 1e-6))
    assert np.mean(np.abs(b_bright) > 30) < 0.5 * np.mean(np.abs(b_faint) > 30)


def test_stored_galactic_latitude_is_flux_dependent(quick):
    params = load_population_params(quick)
    for cls in ('PSR', 'PWN+SNR'):
        lat = params['classes'][cls]['latitude']
        assert lat['model'] == 'double_gaussian' and lat['narrow_logit_slope_per_dex'] > 0
    # bright pulsars are drawn near the plane: fewer at |b| > 30 deg than faint ones (4FGL-DR2: 0 of 6 above 1e-7)
    p = load_profile('quick', {'population.s1_min_ph_cm2_s': 1e-9, 'population.classes': ['PSR'], 'population.density_scale': 30.0})
    df = draw_population(p, 2)
    hi = np.abs(df['glat_deg']) > 30; bright = df['s1_ph_cm2_s'] > 1e-7
    assert hi[bright].mean() < 0.75 * hi[~bright].mean()


@pytest.mark.skipif(not __import__('fermi_nb.data', fromlist=['have_data']).have_data('catalogs/gll_psc_v27.fit'),
                    reason='4FGL-DR2 catalogue absent')
def test_read_4fgl_spectral_columns():
    from fermi_nb.data import data_path
    from fermi_nb.population import read_4fgl
    cat = read_4fgl(data_path('catalogs/gll_psc_v27.fit'))
    f1000 = band_photon_flux(cat, 1.0, 100.0)            # the catalogue's preferred spectra, as population columns
    assert np.median(f1000 / cat['Flux1000']) == pytest.approx(1.0, abs=0.01)
    assert np.allclose(band_photon_flux(cat, 1.0, 1000.0), cat['s1_ph_cm2_s'], rtol=1e-9)
