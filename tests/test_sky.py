"""Tests of the sky simulator (02_instrument, 04_diffuse, 05_sky); real-data checks skip without the data."""
import os
import numpy as np
import pandas as pd
import healpy as hp
import pytest

from fermi_nb.config import load_profile
from fermi_nb.data import have_data, data_path
from fermi_nb.instrument import bin_psf, exposure_maps, read_king_table, king_psf_per_sr
from fermi_nb.diffuse import fit_templates_poisson, diffuse_counts_maps
from fermi_nb.sky import Sky, simulate_sky, sky_dir
from fermi_nb.instrument import render_geometry

from fermi_nb.population import draw_population, band_photon_flux

REAL_KEYS = ['fermi_573w/fermidata_counts.npy', 'fermi_573w/fermidata_exposure.npy', 'fermi_573w/fermidata_pscmask_4fgl.npy',
             'fermi_573w/template_dif.npy', 'fermi_573w/template_iso.npy', 'fermi_573w/template_bub.npy',
             'irf/psf_P8R3_ULTRACLEANVETO_V3_PSF.fits', 'irf/aeff_P8R3_SOURCE_V2_FB.fits', 'catalogs/gll_psc_v27.fit']
HAVE_REAL = all(have_data(k) for k in REAL_KEYS)


@pytest.fixture(scope='module')
def quick():
    return load_profile('quick')


def standin(profile, seed, n=150):
    rng = np.random.default_rng(seed)
    s1 = 10 ** rng.uniform(-10, -8, n)
    df = pd.DataFrame({'source_id': np.arange(n), 'cls': rng.choice(['BLL', 'FSRQ', 'PSR', 'PWN+SNR'], n),
                       'glon_deg': rng.uniform(0, 360, n), 'glat_deg': np.degrees(np.arcsin(rng.uniform(-1, 1, n))),
                       's1_ph_cm2_s': s1})
    for k, (lo, hi) in enumerate(profile.energy_bins_gev):
        df[f'flux_bin{k}_ph_cm2_s'] = s1 * (lo ** -1.2 - hi ** -1.2) / (1 - 1000 ** -1.2)
    return df


def test_psf_normalised(quick):
    for k in range(quick.n_bins):
        p = bin_psf(quick, k)
        th = np.radians(p.theta_deg)
        assert abs(np.trapezoid(p.pdf_per_sr * 2 * np.pi * np.sin(th), th) - 1) < 0.01


@pytest.mark.skipif(not have_data('irf/psf_P8R3_SOURCE_V2_FB.fits'), reason='CALDB PSF file absent')
def test_king_table_normalised_on_sphere():
    tab = read_king_table(data_path('irf/psf_P8R3_SOURCE_V2_FB.fits'), 'FRONT')
    th = np.radians(np.concatenate([[0], np.geomspace(1e-4, 45, 4000)]))
    for e_mev in (500., 3000., 30000.):
        pdf = king_psf_per_sr(tab, th, e_mev)
        assert abs(np.trapezoid(pdf * 2 * np.pi * np.sin(th), th) - 1) < 0.01


def test_render_conserves_counts(quick):
    psf = bin_psf(quick, 0)
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(0, 360, 50), rng.uniform(-90, 90, 50)
    mu = 10 ** rng.uniform(-1, 3, 50)
    for nside in (quick.nside[0], 256):
        g = render_geometry(nside, lon, lat, mu, psf)
        for i in range(0, 50, 7):
            m = g.render(np.where(np.arange(50) == i, mu, 0))
            assert abs(m.sum() / mu[i] - 1) < 0.01


def test_reproducible_and_roundtrip(quick, tmp_path):
    a = simulate_sky(quick, 5, sources=standin(quick, 5))
    b = simulate_sky(quick, 5, sources=standin(quick, 5))
    for k in range(quick.n_bins):
        assert np.array_equal(a.counts(k), b.counts(k))
        assert abs(a.source_counts[k].sum() / a.sources[f'counts_bin{k}'].sum() - 1) < 0.01
    path = a.save(tmp_path)
    assert path == sky_dir(tmp_path, 5) and Sky.is_complete(path)
    c = Sky.load(path)
    assert np.array_equal(c.counts(2), a.counts(2)) and c.profile == a.profile
    assert not any(p.name.startswith('.') for p in tmp_path.iterdir())


def test_bad_inputs(quick):
    df = standin(quick, 1)
    with pytest.raises(ValueError, match='unknown class'):
        simulate_sky(quick, 0, sources=df.assign(cls='GALAXY'))
    with pytest.raises(ValueError, match='negative'):
        simulate_sky(quick, 0, sources=df.assign(s1_ph_cm2_s=-df['s1_ph_cm2_s']))
    sky = simulate_sky(quick, 0, sources=df)
    with pytest.raises(ValueError, match='Nside'):
        Sky(quick, 0, [np.ones(12 * 16 ** 2)] * quick.n_bins, sky.source_counts, sky.exposure, sky.sources)
    with pytest.raises(ValueError, match='exposure map of bin'):
        diffuse_counts_maps(quick, [np.ones(12 * 16 ** 2)] * quick.n_bins)


def test_fit_templates_poisson():
    rng = np.random.default_rng(0)
    t1 = 1 + np.sin(np.linspace(0, 9, 30000)) ** 2; t2 = np.ones(30000)
    fit = fit_templates_poisson(rng.poisson(20 * t1 + 5 * t2), {'a': t1, 'b': t2})
    assert abs(fit['a'] / 20 - 1) < 0.03 and abs(fit['b'] / 5 - 1) < 0.1


def test_population_sky_reproducible(quick):
    a, b = simulate_sky(quick, 11), simulate_sky(quick, 11)
    assert len(a.sources) == len(b.sources) and np.array_equal(a.source_counts[0], b.source_counts[0])


def real573w_checks(seed: int = 0) -> dict:
    "Simulated vs real 573-week counts in |b|>30° and |b|<10°, and N(Flux1000 > 1e-9) vs 4FGL-DR2."
    from astropy.io import fits
    prof = load_profile('real573w')
    sky = simulate_sky(prof, seed)
    real = np.load(data_path('fermi_573w/fermidata_counts.npy'))
    b = hp.pix2ang(prof.nside[0], np.arange(real.size), lonlat=True)[1]
    out = {}
    for name, sel in (('high_lat', np.abs(b) > 30), ('plane', np.abs(b) < 10)):
        out[name] = dict(sim=float(sky.counts(0)[sel].sum()), real=float(real[sel].sum()),
                         sim_diffuse=float(sky.diffuse_counts[0][sel].sum()), sim_sources=float(sky.source_counts[0][sel].sum()))
        out[name]['ratio'] = out[name]['sim'] / out[name]['real']
    f1000 = band_photon_flux(sky.sources, 1.0, 100.0)
    with fits.open(data_path('catalogs/gll_psc_v27.fit')) as f:
        n_4fgl = int(np.sum(f[1].data['Flux1000'] > 1e-9))
    out['n_flux1000_gt_1e-9'] = dict(sim=int(np.sum(f1000 > 1e-9)), fgl=n_4fgl)
    return out


CHECK_SEEDS = (1, 2, 3, 4, 5) # the unresolved-source background of the diffuse calibration used seeds 100-102


@pytest.fixture(scope='module')
def real_checks():
    return [real573w_checks(s) for s in CHECK_SEEDS]


@pytest.mark.skipif(not HAVE_REAL, reason='real data absent')
def test_real573w_plane_counts(real_checks):
    ratio = np.median([r['plane']['ratio'] for r in real_checks])
    assert abs(ratio - 1) < 0.05, [r['plane'] for r in real_checks]


@pytest.mark.skipif(not HAVE_REAL, reason='real data absent')
def test_real573w_high_latitude_counts(real_checks):
    ratio = np.median([r['high_lat']['ratio'] for r in real_checks])
    assert abs(ratio - 1) < 0.05, [r['high_lat'] for r in real_checks]


@pytest.mark.skipif(not HAVE_REAL, reason='real data absent')
def test_real573w_bright_source_number(real_checks):
    for r in real_checks:
        n = r['n_flux1000_gt_1e-9']
        assert abs(n['sim'] - n['fgl']) < 2 * np.sqrt(2 * n['fgl']), n   # difference of two Poisson numbers, 2 sigma
