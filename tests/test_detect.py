"""fermi-nb detect: every reader (HEALPix FITS gtbin/gammapy, RING/NESTED, Galactic/celestial; WCS cubes; .npy) gives the
model the same counts, refusals name the mismatch, partial skies are searched only where data exist. The shipped
bundle is applied, never retrained."""
import os
from pathlib import Path
import numpy as np, pandas as pd, healpy as hp, pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault('FERMI_NB_DATA', str(ROOT.parent / 'shared' / 'data'))
from fermi_nb.data import have_data, data_path
from fermi_nb.bundle import load_bundle, shipped_bundles
from fermi_nb.detect import (prepare_counts, detect_table, read_map, to_model_pixels, group_energy_bins, write_healpix_fits,
                             DomainError, detect_cli, EDGE_DEG)
from fermi_nb.catalog import crossmatch, read_catalog

MAP, EXPOSURE = 'fermi_573w/fermidata_counts.npy', 'fermi_573w/fermidata_exposure.npy'
FHL, GC = 'fermi_3fhl/fermi_3fhl_counts_cube_hpx.fits.gz', 'galactic_center/ccube_01.fits'
needs_map = pytest.mark.skipif(not have_data(MAP) or 'real573w' not in shipped_bundles(), reason='573-week map or real573w bundle absent')
MATCH_DEG = 0.3            # same source: within the stitch radius of the localisation
SAME_FRACTION = 0.9        # tolerance: a converted map must give back ≥ 90 % of the reference detections (|b| > 10°)

@pytest.fixture(scope='module')
def bundle(): return load_bundle('real573w')

@pytest.fixture(scope='module')
def sky(): return np.load(data_path(MAP))

@pytest.fixture(scope='module')
def reference(bundle):
    "Detections of the shared .npy map as the bundle's run saw it (no characterisation, no test-time augmentation: fast)."
    return detect_table(prepare_counts(data_path(MAP), bundle), bundle, characterise=False, tta_symmetries=1)

def _recovered(ref: pd.DataFrame, det: pd.DataFrame, sel=None) -> float:
    ref = ref if sel is None else ref[sel]
    m = crossmatch(ref, det, MATCH_DEG)
    return float((m['idx_ref'] >= 0).mean())

def test_energy_grouping():
    assert group_energy_bins([[2, 5], [5, 20]], [[2, 20]]) == [[0, 1]]
    assert group_energy_bins([[1, 2], [2, 5], [5, 20], [20, 50]], [[2, 20]]) == [[1, 2]]
    assert group_energy_bins([[3.98, 10], [10, 25]], [[2, 20]]) is None
    assert group_energy_bins([[2, 5], [6, 20]], [[2, 20]]) is None

@needs_map
@pytest.mark.parametrize('layout,nest,frame', [('gammapy', False, 'galactic'), ('gammapy', True, 'icrs'),
                                               ('gtbin', True, 'galactic'), ('gtbin', False, 'icrs')])
def test_healpix_files_give_the_model_the_map(tmp_path, bundle, sky, layout, nest, frame):
    """Galactic RING or NESTED, split over two energy bins: exactly the original counts. Celestial at the model's Nside:
    every count kept by the regridding (smoothed by about one pixel), but refused — the detector needs Nside ≥ 512 there."""
    f = write_healpix_fits(sky, tmp_path / 'm.fits', nest, frame, layout=layout, selection={'event_class': 'ULTRACLEANVETO', 'event_type': 'PSF3'})
    if frame == 'galactic':
        pc = prepare_counts(f, bundle)
        assert pc.covered.all() and np.array_equal(pc.maps[0], sky)
        return
    inp = read_map(f); out, cov, _ = to_model_pixels(inp.data.sum(0, keepdims=True), inp, 128)
    assert out.sum() == pytest.approx(sky.sum(), rel=1e-9) and np.corrcoef(out[0], sky)[0, 1] > 0.85 and (cov == 1).all()
    with pytest.raises(DomainError, match=r'pixel scale: .* icrs HEALPix Nside 128.* Nside ≥ 512'): prepare_counts(f, bundle)

@needs_map
def test_finer_healpix_is_summed_down(tmp_path, bundle, sky):
    "Photons binned at Nside 512: Galactic sums back exactly; celestial nearly pixel for pixel."
    f = write_healpix_fits(sky, tmp_path / 'g512.fits', True, 'galactic', layout='gammapy', nside_out=512)
    assert np.array_equal(prepare_counts(f, bundle).maps[0], sky)
    f = write_healpix_fits(sky, tmp_path / 'c512.fits', False, 'icrs', layout='gtbin', nside_out=512)
    pc = prepare_counts(f, bundle)
    assert pc.maps[0].sum() == pytest.approx(sky.sum(), rel=1e-9) and np.corrcoef(pc.maps[0], sky)[0, 1] > 0.995

@needs_map
def test_celestial_file_gives_the_same_catalogue(tmp_path, bundle, reference, sky):
    f = write_healpix_fits(sky, tmp_path / 'c512.fits', True, 'icrs', layout='gtbin', nside_out=512)
    det = detect_table(prepare_counts(f, bundle), bundle, characterise=False, tta_symmetries=1)
    high = reference['glat_deg'].abs().to_numpy() > 10
    assert _recovered(reference, det, high) >= SAME_FRACTION
    assert abs(len(det) - len(reference)) <= 0.1 * len(reference)

@needs_map
def test_partial_sky_is_searched_only_where_data_exist(tmp_path, bundle, reference, sky):
    centre, radius = hp.ang2vec(90.0, 45.0, lonlat=True), 40.0
    cap = hp.query_disc(128, centre, np.radians(radius))
    part = np.full_like(sky, hp.UNSEEN); part[cap] = sky[cap]
    np.save(tmp_path / 'cap.npy', part)
    pc = prepare_counts(tmp_path / 'cap.npy', bundle)
    assert pc.covered.sum() == len(cap) and np.array_equal(pc.maps[0][pc.covered], sky[pc.covered])
    det = detect_table(pc, bundle, characterise=False, tta_symmetries=1)
    dist = np.degrees(np.arccos(np.clip(hp.ang2vec(det['glon_deg'].to_numpy(), det['glat_deg'].to_numpy(), lonlat=True) @ centre, -1, 1)))
    assert len(det) > 50 and np.all(dist < radius + hp.nside2resol(128, True) / 60)      # nothing outside the data
    assert det.loc[det['data_edge'], 'glon_deg'].size > 0 and np.all(dist[~det['data_edge'].to_numpy()] < radius)
    ref_d = np.degrees(np.arccos(np.clip(hp.ang2vec(reference['glon_deg'].to_numpy(), reference['glat_deg'].to_numpy(), lonlat=True) @ centre, -1, 1)))
    assert _recovered(reference, det, ref_d < radius - 2 * EDGE_DEG) >= SAME_FRACTION

@needs_map
def test_wcs_cube_is_regridded_by_counts(tmp_path, bundle, sky):
    "A CAR cube at 0.1° cut from the map: counts conserved, interior HEALPix pixels as in the map, edge pixels no-data."
    from astropy.wcs import WCS
    from astropy.io import fits
    w = WCS(naxis=2); w.wcs.ctype = ['GLON-CAR', 'GLAT-CAR']; w.wcs.crval = [60.0, 0.0]; w.wcs.crpix = [100.5, -199.5]
    w.wcs.cdelt = [-0.1, 0.1]                                  # 200 × 200 pixels, l 50–70°, b 20–40°
    yy, xx = np.mgrid[0:200, 0:200]
    l, b = w.pixel_to_world_values(xx, yy)
    pix = hp.ang2pix(128, l, b, lonlat=True)
    share = sky[pix] / np.bincount(pix.ravel(), minlength=len(sky))[pix]   # each HEALPix pixel's counts over its CAR pixels
    hdr = w.to_header(); hdr['CTYPE3'], hdr['CRVAL3'], hdr['CDELT3'], hdr['CRPIX3'], hdr['CUNIT3'] = 'Energy', 2000.0, 18000.0, 1, 'MeV'
    ebounds = fits.BinTableHDU.from_columns([fits.Column('CHANNEL', 'I', array=[1]), fits.Column('E_MIN', '1E', unit='keV', array=[2e6]),
                                             fits.Column('E_MAX', '1E', unit='keV', array=[2e7])], name='EBOUNDS')
    fits.HDUList([fits.PrimaryHDU(share[None].astype(np.float64), hdr), ebounds]).writeto(tmp_path / 'ccube.fits')
    inp = read_map(tmp_path / 'ccube.fits')
    assert inp.kind == 'wcs' and inp.frame == 'galactic' and np.allclose(inp.energy_gev, [[2, 20]])
    pc = prepare_counts(tmp_path / 'ccube.fits', bundle)
    full = np.bincount(pix.ravel(), minlength=len(sky)) > 0
    out, cov, _ = to_model_pixels(share[None], inp, 128)
    assert out.sum() == pytest.approx(share.sum(), rel=1e-9)                            # every count lands somewhere
    inner = pc.covered
    assert 250 < inner.sum() < full.sum() and np.all(full[inner])
    assert np.median(np.abs(pc.maps[0][inner] - sky[inner]) / np.maximum(sky[inner], 1)) < 0.05

def test_refusals_name_the_mismatch(tmp_path):
    if 'real573w' not in shipped_bundles(): pytest.skip('real573w bundle absent')
    bundle = load_bundle('real573w')
    if have_data(FHL):
        with pytest.raises(DomainError, match=r"energy band: 'fermi_3fhl_counts_cube_hpx.fits.gz' has 17 bins 10–2000 GeV; model 'real573w' expects counts in 2–20 GeV"):
            prepare_counts(data_path(FHL), bundle)
    if have_data(GC):
        with pytest.raises(DomainError, match=r'energy band.*event class: .* CLEAN events.*ULTRACLEANVETO'): prepare_counts(data_path(GC), bundle)
    if not have_data(MAP): return
    sky = np.load(data_path(MAP))
    f = write_healpix_fits(sky, tmp_path / 'psf2.fits', layout='gtbin', selection={'event_type': 'PSF2'})
    with pytest.raises(DomainError, match="event type: 'psf2.fits' holds PSF2 events; model 'real573w' was trained on PSF3"):
        prepare_counts(f, bundle)
    with pytest.raises(DomainError, match='event class'): prepare_counts(data_path(MAP), bundle, event_class='SOURCE')
    np.save(tmp_path / 'n64.npy', hp.ud_grade(sky, 64, power=-2))
    with pytest.raises(DomainError, match=r'pixel scale: .* Nside 64 .* expects Nside 128'): prepare_counts(tmp_path / 'n64.npy', bundle)
    exp = np.load(data_path(EXPOSURE))
    assert any('median ratio to the trained exposure 1.000' in n for n in prepare_counts(data_path(MAP), bundle, data_path(EXPOSURE)).notes)
    np.save(tmp_path / 'exp.npy', 1.4 * exp)
    with pytest.raises(DomainError, match=r'exposure: median ratio 1.4 .* expects 0.75–1.25'): prepare_counts(data_path(MAP), bundle, tmp_path / 'exp.npy')
    assert detect_cli(['--counts', str(data_path(FHL)), '--out', str(tmp_path / 'o')]) == 1 if have_data(FHL) else True
    assert not (tmp_path / 'o').exists()

def test_exposure_cube_reader():
    if not have_data('fermi_3fhl/fermi_3fhl_exposure_cube_hpx.fits.gz'): pytest.skip('3FHL exposure absent')
    e = read_map(data_path('fermi_3fhl/fermi_3fhl_exposure_cube_hpx.fits.gz'), exposure=True)
    assert e.kind == 'healpix' and e.nside == 64 and e.frame == 'icrs' and e.data.shape == (18, 49152)
    assert e.energy_gev[0] == pytest.approx(10.0) and np.nanmedian(e.data) > 1e10

def _counts_peak_model(inputs):
    "Stand-in detector (no network): probability 1 where the patch counts exceed 3× the patch median + 8."
    x = np.asarray(inputs[0], float); med = np.median(x, axis=(1, 2), keepdims=True)
    return (x > 3 * med + 8).astype(np.float32)

@needs_map
def test_partial_sky_products_with_a_stand_in_detector(tmp_path, sky):
    "Fast check of the whole detect path after the network: no-data pixels dropped, edge flag 16, catalogue files."
    from fermi_nb.catalog import write_catalog
    b = load_bundle('real573w'); b._miun = _counts_peak_model
    centre = hp.ang2vec(90.0, 45.0, lonlat=True); cap = hp.query_disc(128, centre, np.radians(40.0))
    part = np.full_like(sky, hp.UNSEEN); part[cap] = sky[cap]; np.save(tmp_path / 'cap.npy', part)
    full = detect_table(prepare_counts(data_path(MAP), b), b, characterise=False)
    det = detect_table(prepare_counts(tmp_path / 'cap.npy', b), b, characterise=False)
    dist = lambda d: np.degrees(np.arccos(np.clip(hp.ang2vec(d['glon_deg'].to_numpy(), d['glat_deg'].to_numpy(), lonlat=True) @ centre, -1, 1)))
    assert len(det) > 5 and dist(det).max() < 40.0 + hp.nside2resol(128, True) / 60
    assert np.all(dist(det)[det['data_edge'].to_numpy()] > 40.0 - EDGE_DEG - 0.5)
    assert _recovered(full, det, dist(full) < 40.0 - 2 * EDGE_DEG) == 1.0        # the map inside is what the full sky had
    assert np.all(np.isfinite(det['signif_aperture'])) and det['signif_aperture'].median() > 5
    cat = read_catalog(write_catalog(det, tmp_path / 'out', b.profile, {'data_files': {'cap.npy': 'x'}}, name='cap')['fits'])
    assert ((cat['Flags'] & 16) > 0).sum() == det['data_edge'].sum()
    from fermi_nb.detect import detect
    t = detect(tmp_path / 'cap.npy', b, characterise=False)                  # the Python entry point: an astropy Table
    assert len(t) == len(det) and t.meta['MODEL'] == 'real573w' and any('partial sky' in n for n in t.meta['NOTES'])

@needs_map
def test_partial_gammapy_healpix_map(tmp_path, bundle, sky):
    "A gammapy partial-sky HEALPix map (explicit pixel list) is data inside its region and no-data elsewhere."
    from gammapy.maps import HpxGeom, HpxNDMap, MapAxis
    import astropy.units as u
    geom = HpxGeom.create(nside=128, nest=True, region='DISK(90,45,20)', frame='galactic', axes=[MapAxis.from_energy_edges([2, 20] * u.GeV)])
    m = HpxNDMap(geom); idx = geom.get_idx(); m.set_by_idx(idx, sky[hp.nest2ring(128, idx[0])]); m.write(tmp_path / 'part.fits')
    pc = prepare_counts(tmp_path / 'part.fits', bundle)
    disc = hp.query_disc(128, hp.ang2vec(90.0, 45.0, lonlat=True), np.radians(20.0))
    assert set(np.flatnonzero(pc.covered)) == set(disc) and np.array_equal(pc.maps[0][disc], sky[disc])
