"Galactic-centre cube: profile, energy grouping, reprojection onto the patch grid, gtpsf table, 4FGL comparison."
import os
from pathlib import Path
import numpy as np, pandas as pd, pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault('FERMI_NB_DATA', str(ROOT.parent / 'shared' / 'data'))
from fermi_nb.config import load_profile
from fermi_nb.data import have_data
from fermi_nb.patching import PatchGeometry
from fermi_nb.galactic_center import (GC_DATA_KEYS, RegionPatch, energy_groups, read_gc_cube, group_energy_bins,
                                      reproject_to_patch, cube_to_patch, read_gtpsf, instrument_check, region_sources,
                                      region_4fgl, compare_with_4fgl, oracle_prob_map, localise_patch)

GC = load_profile('gc')
_keys = [GC_DATA_KEYS['counts']['PSF2'], GC_DATA_KEYS['counts']['PSF3'], GC_DATA_KEYS['psf']['PSF3'], GC.real_data.catalog]
needs_gc = pytest.mark.skipif(not all(have_data(k) for k in _keys), reason='Galactic-centre cubes / 4FGL-DR2 not present')

def test_profile_matches_cube_grid():
    assert GC.name == 'gc' and GC.n_bins == 3 and GC.instrument.event_type == 'PSF3'
    assert np.allclose(GC.patch_pixel_deg, 0.1)                  # 0.1° patch pixels = the cube's pixels
    assert GC.finest_npix % GC.training.bottleneck_npix == 0
    from fermi_nb.miun import unet_depth
    assert unet_depth(GC) == 3                                   # 80 → 40 → 20 → 10
    assert GC.real_data.counts_map is None                       # not a HEALPix map: the runner's real-sky stage must skip it
    assert GC.patches.mask_radius_px * GC.patch_pixel_deg[0] <= 0.2 + 1e-9   # target disks small enough for the GC crowding

def test_oracle_localisation_returns_positions():
    "Disks drawn at known (l, b) come back from the localisation at those positions."
    patch = RegionPatch(GC)
    src = pd.DataFrame({'glon_deg': [0.0, 1.3, -2.1, 2.0], 'glat_deg': [0.0, -0.7, 1.5, 2.45]})
    src = region_sources(src, patch, 0)
    det = localise_patch(oracle_prob_map(src, 80, GC.patches.mask_radius_px), patch, GC)
    s, ref, _ = compare_with_4fgl(det, src.assign(Flux1000=1e-9), 0.05)
    assert s['n_det'] == 4 and s['n_4fgl_found'] == 4 and s['n_det_matched'] == 4 and ref.sep_deg.max() < 0.02

def test_energy_groups_on_cube_edges():
    edges = 10 ** (3.6 + np.arange(29) / 10) / 1e3             # the cube's 28 bins, 10 per decade from 3.98 GeV
    g = energy_groups(edges[:-1], edges[1:], GC)
    assert [list(x) for x in g] == [[0, 1, 2, 3], [4, 5, 6, 7, 8], list(range(9, 28))]
    bad = load_profile('gc', {'energy_bins_gev': [[3.981, 12.0], [12.0, 31.62], [31.62, 2512.0]]})
    with pytest.raises(ValueError, match='12.0 GeV is not a cube bin edge'): energy_groups(edges[:-1], edges[1:], bad)

def test_region_patch_is_the_patch_geometry_projection():
    geom = PatchGeometry.build(GC, cache_dir=False)
    pid = 17; rp = RegionPatch(GC, geom.centres_glon_deg[pid], geom.centres_glat_deg[pid])
    x, y = np.array([0.0, 12.3, 79.0]), np.array([5.0, 40.0, 79.0])
    assert np.allclose(geom.pixel_to_sky(np.full(3, pid), x, y), rp.pixel_to_sky(np.zeros(3, int), x, y), atol=1e-10)
    centre = RegionPatch(GC)
    l, b = centre.pixel_to_sky(np.zeros(2, int), np.array([39.5, 29.5]), np.array([39.5, 39.5]))
    assert np.allclose([l[0] % 360 - 360 * (l[0] > 180), b[0]], [0, 0], atol=1e-12)   # (n-1)/2 is the centre
    assert np.isclose(l[1], 1.0, atol=2e-4) and abs(b[1]) < 1e-12                      # 10 px towards smaller x = +1° in l

def test_reprojection_synthetic_car():
    "A CAR image with one hot pixel: its counts arrive at the patch pixel of the same (l, b)."
    from astropy.wcs import WCS
    w = WCS(naxis=2); w.wcs.ctype = ['GLON-CAR', 'GLAT-CAR']; w.wcs.crval = [0, 0]; w.wcs.crpix = [40.5, 40.5]
    w.wcs.cdelt = [-0.1, 0.1]
    img = np.ones((80, 80)); img[52, 21] = 101.0                 # pixel (x=21, y=52): l = +1.85, b = +1.25
    l0, b0 = w.pixel_to_world_values(21, 52)
    assert np.allclose([l0, b0], [1.85, 1.25])
    counts, cov = reproject_to_patch(img, w, RegionPatch(GC))
    px, py = RegionPatch(GC).sky_to_pixel(np.array([0]), l0, b0)
    iy, ix = np.unravel_index(np.argmax(counts), counts.shape)
    assert (ix, iy) == (int(round(px[0])), int(round(py[0]))) == (21, 52)
    assert counts[iy, ix] > 95                                   # the pixels nearly coincide 1.9° from the centre
    assert abs(counts.sum() / img.sum() - 1) < 0.01 and np.allclose(cov, 1)
    with pytest.raises(ValueError, match='must be Galactic'):
        w2 = w.deepcopy(); w2.wcs.ctype = ['RA---CAR', 'DEC--CAR']; reproject_to_patch(img, w2, RegionPatch(GC))

@needs_gc
def test_real_cube_grouping_and_reprojection():
    cube = read_gc_cube('PSF3')
    assert cube.counts.shape == (28, 80, 80) and np.isclose(cube.pixel_deg, 0.1)
    g = group_energy_bins(cube, GC)
    assert g.sum() == cube.counts.sum() and g[0].sum() > g[1].sum() > g[2].sum() > 500
    both = read_gc_cube('PSF2+PSF3')
    assert both.counts.sum() == cube.counts.sum() + read_gc_cube('PSF2').counts.sum()
    inputs, cov = cube_to_patch(cube, GC, RegionPatch(GC))
    for k in range(3): assert abs(inputs[k].sum() / g[k].sum() - 1) < 0.01
    # near the centre both grids are the same 0.1° pixels: the integer counts arrive unchanged
    assert np.allclose(inputs[0][35:45, 35:45], g[0][35:45, 35:45], atol=0.05)
    # the cube pixel of (l, b) = (-1.2, 0.7) and the patch pixel of the same point hold the same counts
    x, y = cube.wcs.world_to_pixel_values(-1.2, 0.7)
    px, py = RegionPatch(GC).sky_to_pixel(np.array([0]), -1.2, 0.7)
    assert np.allclose([px[0], py[0]], [x, y], atol=0.05)

@needs_gc
def test_gtpsf_matches_profile():
    t = read_gtpsf(GC_DATA_KEYS['psf']['PSF3'])
    assert t.psf_per_sr.shape == (len(t.energy_gev), len(t.theta_deg)) and 1e11 < t.exposure_cm2_s[10] < 2e11
    chk = instrument_check(GC)
    assert np.all(np.abs(chk.r68_profile_deg / chk.r68_gtpsf_deg - 1) < 0.05)
    assert np.all(np.abs(chk.exposure_ratio - 1) < 0.05)
    assert chk.r68_gtpsf_deg.is_monotonic_decreasing

@needs_gc
def test_compare_with_4fgl_counts_matches():
    from fermi_nb.catalog import load_4fgl
    from fermi_nb.data import data_path
    patch = RegionPatch(GC)
    fgl = region_sources(load_4fgl(data_path(GC.real_data.catalog)), patch, 3)
    assert len(fgl) > 50 and fgl.glon_deg.abs().max() < 3.8 and fgl.glat_deg.abs().max() < 3.8
    det = fgl.iloc[::2][['glon_deg', 'glat_deg']].copy(); det['glat_deg'] += 0.05   # half of them, offset 0.05°
    det = pd.concat([det, pd.DataFrame({'glon_deg': [3.5], 'glat_deg': [-3.5]})], ignore_index=True)  # one spurious
    s, ref, table = compare_with_4fgl(det, fgl, 0.1)
    assert s['n_4fgl_found'] == s['n_det_matched'] == len(det) - 1 and s['n_4fgl'] == len(fgl)
    assert np.isclose(s['completeness'], (len(det) - 1) / len(fgl)) and np.isclose(s['matched_fraction'], (len(det) - 1) / len(det))
    assert np.allclose(ref.sep_deg.dropna(), 0.05, atol=1e-3)
    assert table.groupby('quantity').n_4fgl.sum().eq(len(fgl)).all()

def test_compare_region_buffer():
    "A pair straddling the region boundary is neither a miss nor a spurious detection; outside pairs are not counted."
    patch = RegionPatch(GC)
    ref = region_sources(pd.DataFrame({'glon_deg': [0.0, 3.62, -3.9], 'glat_deg': [0.0, 1.0, 0.0], 'Flux1000': 1e-9}), patch, 0)
    det = region_sources(pd.DataFrame({'glon_deg': [0.01, 3.72, -3.9], 'glat_deg': [0.0, 1.0, 0.5]}), patch, 0)
    assert ref.edge_px[1] > 3 > det.edge_px[1]                 # 4FGL inside the 3 px margin, its detection just outside
    s, out, _ = compare_with_4fgl(det, ref, 0.15, margin_px=3)
    assert (s['n_4fgl'], s['n_4fgl_found'], s['n_det'], s['n_det_matched']) == (2, 2, 1, 1)
    s0, _, _ = compare_with_4fgl(region_sources(det, patch, 3), region_sources(ref, patch, 3), 0.15)   # no buffer: a false miss
    assert s0['n_4fgl_found'] == 1

@needs_gc
def test_region_4fgl_band_columns():
    fgl = region_4fgl(GC, RegionPatch(GC), 3)
    assert fgl.flux_3gev_ph_cm2_s.notna().all() and (fgl.flux_3gev_ph_cm2_s < fgl.Flux1000 * 1.5).all()
    assert (fgl.sqrt_ts_3gev <= fgl.Signif_Avg * 1.5 + 3).all() and (fgl.sqrt_ts_3gev >= 5).sum() > 10
