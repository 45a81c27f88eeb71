"""Tests of the extended sources (02_instrument RadialPSF.convolved_gaussian / render_geometry, 03_population draw_extended,
05_sky simulate_sky): the broadened PSF, counts conservation, expected TS, the calibrated population and the off switch."""
import math
import numpy as np
import pandas as pd
import healpy as hp
import pytest

from fermi_nb.config import load_profile, ProfileError
from fermi_nb.instrument import RadialPSF, bin_psf, render_geometry, _THETA_GRID_DEG
from fermi_nb.population import (draw_population, expected_n_extended, load_extended_params, extended_sigma_deg,
                                 R68_PER_SIGMA)
from fermi_nb.sky import Sky, simulate_sky


@pytest.fixture(scope='module')
def quick():
    return load_profile('quick')


def _containment_on_sphere(psf):
    th = np.radians(psf.theta_deg)
    return np.trapezoid(psf.pdf_per_sr * 2 * np.pi * np.sin(th), th)


def test_broadened_gaussian_psf_adds_in_quadrature():
    sigma0 = 0.1
    g = RadialPSF(_THETA_GRID_DEG.copy(), np.exp(-np.radians(_THETA_GRID_DEG) ** 2 / (2 * np.radians(sigma0) ** 2)))
    assert abs(g.containment_deg(0.68) / (R68_PER_SIGMA * sigma0) - 1) < 0.005
    for s in (0.02, 0.3, 1.5):
        c = g.convolved_gaussian(s)
        assert abs(_containment_on_sphere(c) - 1) < 1e-6
        assert abs(c.containment_deg(0.68) / (R68_PER_SIGMA * math.hypot(sigma0, s)) - 1) < 0.01, (s, c.containment_deg(0.68))
    assert g.convolved_gaussian(0.0) is g and g.convolved_gaussian(0.3) is g.convolved_gaussian(0.3)   # cached
    with pytest.raises(ValueError, match='sigma_deg'): g.convolved_gaussian(-0.1)


def test_broadened_king_psf_is_wider_and_normalised(quick):
    psf = bin_psf(quick, 1)
    r68 = psf.containment_deg(0.68)
    previous = r68
    for s in (0.05, 0.2, 1.0):
        c = psf.convolved_gaussian(s)
        assert abs(_containment_on_sphere(c) - 1) < 1e-6
        assert previous < c.containment_deg(0.68)
        # a King core is not Gaussian: quadrature holds to ~15%, exactly once the extension dominates
        assert abs(c.containment_deg(0.68) / math.hypot(r68, R68_PER_SIGMA * s) - 1) < 0.15, (s, c.containment_deg(0.68))
        previous = c.containment_deg(0.68)
    assert abs(psf.convolved_gaussian(1.0).containment_deg(0.68) / math.hypot(r68, R68_PER_SIGMA) - 1) < 0.02


def test_extended_render_conserves_counts_and_rows(quick):
    psf, nside = bin_psf(quick, 1), quick.nside[1]
    lon, lat = np.array([10.0, 200.0, 100.0, 300.0]), np.array([0.5, -30.0, 45.0, 5.0])
    mu = np.array([500.0, 200.0, 50.0, 1000.0])
    sigma = np.array([0.5, 0.0, 0.2, 0.5])
    g = render_geometry(nside, lon, lat, mu, psf, ext_sigma_deg=sigma)
    assert abs(g.render(mu).sum() / mu.sum() - 1) < 1e-5
    point = render_geometry(nside, lon, lat, mu, psf)
    for i in range(4):
        sel = g.src == i
        assert abs(g.weight[sel].sum() - 1) < 1e-5
        centroid = np.sum(np.array(hp.pix2vec(nside, g.pix[sel])) * g.weight[sel], axis=1)
        off = np.degrees(hp.rotator.angdist(centroid / np.linalg.norm(centroid), hp.ang2vec(lon[i], lat[i], lonlat=True)))[0]
        assert off < 0.2, (i, off)
        # the extended sources spread over more pixels than the same source as a point; the point source is unchanged
        if sigma[i] > 0: assert sel.sum() > (point.src == i).sum() and g.weight[sel].max() < 0.8 * point.weight[point.src == i].max()
        else: assert np.array_equal(np.sort(g.pix[sel]), np.sort(point.pix[point.src == i]))
    # all sigma 0 is the point-source path, bit for bit
    z = render_geometry(nside, lon, lat, mu, psf, ext_sigma_deg=np.zeros(4))
    assert np.array_equal(z.render(mu), point.render(mu))
    with pytest.raises(ValueError, match='ext_sigma_deg'): render_geometry(nside, lon, lat, mu, psf, ext_sigma_deg=[0.1, -1, 0, 0])


def _pair_table(profile, sigma_deg):
    "Two identical bright sources in the plane, far apart; the first with extension `sigma_deg`."
    df = pd.DataFrame({'cls': ['PWN+SNR'] * 2, 'glon_deg': [30.0, 330.0], 'glat_deg': [0.3, 0.3], 'source_id': [0, 1]})
    for k in range(profile.n_bins): df[f'flux_bin{k}_ph_cm2_s'] = 2e-9
    df['ext_sigma_deg'] = [sigma_deg, 0.0]
    return df


def test_extended_source_counts_and_lower_ts(quick, tmp_path):
    ext = simulate_sky(quick, 0, sources=_pair_table(quick, 0.5))
    pt = simulate_sky(quick, 0, sources=_pair_table(quick, 0.0))
    for k in range(quick.n_bins):
        mu = ext.sources[f'counts_bin{k}'].to_numpy()
        assert abs(ext.source_counts[k].sum() / mu.sum() - 1) < 1e-4
        assert abs(ext.source_counts_map(k, [1.0, 0.0]).sum() / mu[0] - 1) < 1e-4   # the extended one alone
    ts_ext, ts_pt = ext.sources['expected_ts'].to_numpy(), pt.sources['expected_ts'].to_numpy()
    assert ts_pt[0] > 25 and ts_ext[0] < 0.8 * ts_pt[0], (ts_ext, ts_pt)       # same counts, same background, harder to detect
    assert abs(ts_ext[1] / ts_pt[1] - 1) < 1e-6                                  # the point source is unchanged
    # save / load re-renders the broadened footprint identically
    back = Sky.load(ext.save(tmp_path))
    assert 'ext_sigma_deg' in back.sources.columns
    for k in range(quick.n_bins):
        assert np.allclose(back.source_counts_map(k), ext.source_counts[k], rtol=1e-5, atol=1e-6)


def test_population_extended_calibrated():
    cal = load_extended_params()
    sizes = np.asarray(cal['ext_sigma_deg'])
    assert len(sizes) == 75 and 0.01 < sizes.min() < sizes.max() < 2.5
    profile = load_profile('quick', {'population.extended_scale': 3.0})
    n_exp = expected_n_extended(profile)
    assert n_exp > 20
    counts = []
    for seed in range(2):
        pop = draw_population(profile, seed)
        sig = pop['ext_sigma_deg'].to_numpy()
        ext = sig > 0
        counts.append(ext.sum())
        assert np.all(np.isin(sig[ext], sizes))                           # sizes are 4FGL-DR2's
        assert set(pop['cls'][ext]) <= {'BLL', 'FSRQ', 'PSR', 'PWN+SNR'}
        assert (pop['cls'][ext] == 'PWN+SNR').mean() > 0.5                # mostly Galactic remnants / nebulae
        assert np.median(np.abs(pop['glat_deg'][ext])) < 10               # mostly in the plane
        assert pop['s1_ph_cm2_s'][ext].min() >= 1e-10                     # where 4FGL-DR2 has them
    assert abs(np.mean(counts) - n_exp) < 4 * math.sqrt(n_exp / 2) + 1, (counts, n_exp)
    # the scale is linear where the probability stays below 1
    assert 2.0 < n_exp / expected_n_extended(load_profile('quick', {'population.extended_scale': 1.0})) <= 3.0


def test_switch_off_changes_nothing(quick):
    off = draw_population(quick, 3)
    on = draw_population(load_profile('quick', {'population.extended_scale': 1.0}), 3)
    assert 'ext_sigma_deg' not in off.columns
    pd.testing.assert_frame_equal(off.drop(columns='year_factor'), on.drop(columns=['year_factor', 'ext_sigma_deg']))
    a = simulate_sky(quick, 3, sources=off)
    b = simulate_sky(quick, 3, sources=off.assign(ext_sigma_deg=0.0))
    assert all(np.array_equal(x, y) for x, y in zip(a.source_counts, b.source_counts))
    assert np.array_equal(a.sources['expected_ts'], b.sources['expected_ts'])


def test_profile_rejects_negative_scale():
    with pytest.raises(ProfileError, match='extended_scale'): load_profile('quick', {'population.extended_scale': -1.0})


def test_sigma_conversion():
    s = extended_sigma_deg(['RadialDisk', 'RadialGauss', 'SpatialMap'], [1.0, 1.0, 2.0], [1.0, 1.0, 0.5])
    assert np.allclose(s, [math.sqrt(0.68) / R68_PER_SIGMA, 1 / R68_PER_SIGMA, 1 / R68_PER_SIGMA])
    with pytest.raises(ValueError, match='RadialDisk'): extended_sigma_deg(['Ring'], [1.0], [1.0])


def test_3fhl_extended_templates_in_use():
    "3FHL's ExtendedSources table lists 55 templates but its main table uses 48: strict reading refuses it, used_only keeps those 48."
    from fermi_nb.data import have_data, data_path
    from astropy.io import fits
    from fermi_nb.population import read_4fgl_extended
    key = 'catalogs/gll_psch_v13.fit.gz'
    if not have_data(key): pytest.skip('3FHL catalogue absent')
    with pytest.raises(ValueError, match="no row in the main table"):
        read_4fgl_extended(data_path(key))
    ext = read_4fgl_extended(data_path(key), used_only=True)
    assert len(ext) == 48 and 'Cygnus Cocoon' in set(ext['name']) and 'HB 21' not in set(ext['name'])
    with fits.open(data_path(key)) as hdul:   # each row points at the main-table entry that uses its template
        used = np.char.strip(np.asarray(hdul['LAT_Point_Source_Catalog'].data['Extended_Source_Name']).astype(str))
    assert list(used[ext['row'].to_numpy()]) == list(ext['name'])
    assert np.all(ext['ext_sigma_deg'] > 0)
