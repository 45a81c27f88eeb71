"Localisation: disk scores, clustering of synthetic disks, sky conversion and stitching."
import numpy as np
import pandas as pd
import pytest
from scipy import ndimage
from fermi_nb.config import load_profile
from fermi_nb.localisation import (disk_kernel, disk_scores, find_candidates, cluster_scores, stitch, candidates_to_sky,
                                   localise, synthetic_prob_maps, synthetic_sky_prob_maps, match_pixel_positions,
                                   _components)
from fermi_nb.geometry import lonlat_to_unit

def _disk_map(npix, centres, r, soft=False):
    "Hard binary disks (a target mask) or soft-edged ones (like a network output, 0.5 at the radius)."
    yy, xx = np.mgrid[0:npix, 0:npix]
    m = np.zeros((npix, npix), np.float32)
    for x, y in centres:
        d = np.hypot(xx - x, yy - y)
        m = np.maximum(m, 1 / (1 + np.exp((d - r) / 0.4)) if soft else (d < r).astype(np.float32))
    return m

@pytest.fixture(scope='module')
def lat6(): return load_profile('lat6')

@pytest.fixture(scope='module')
def quick(): return load_profile('quick')

def test_disk_kernel_sizes():
    assert disk_kernel(5).sum() == 69 and disk_kernel(2).sum() == 9

@pytest.mark.parametrize('r', [1.5, 2, 3, 5])
def test_disk_scores_equal_convolution(r):
    m = np.random.default_rng(0).random((3, 21, 26)) < 0.3
    ref = np.stack([ndimage.convolve(p.astype(int), disk_kernel(r).astype(int), mode='constant') for p in m])
    assert np.array_equal(disk_scores(m, r), ref)

def test_components_equal_ndimage_label():
    act = np.random.default_rng(1).random((5, 19, 23)) < 0.45
    plane = np.zeros((3, 3, 3), bool); plane[1] = True
    ref, nref = ndimage.label(act, structure=plane)
    idx = np.flatnonzero(act)
    lab, k = _components(idx, act.shape, np.zeros(act.size, bool), np.empty(act.size, np.int64))
    assert k == nref and len(set(zip(lab, ref.reshape(-1)[idx]))) == k

@pytest.mark.parametrize('refine', [True, False])
def test_known_disks_lat6(lat6, refine):
    "Isolated, touching pair, pair at 1.6 r, edge and empty patch: right number and centres < 0.5 px."
    prof = load_profile('lat6', {'localisation.refine_centroid': refine})
    P, r = prof.finest_npix, prof.patches.mask_radius_px
    # soft maps carry sub-pixel information (refined centroid); hard binary masks only through their pixel set
    cases = ([[(60.3, 70.6)], [(50.0, 64.0), (60.0, 64.4)], [(40.0, 40.0), (50.5, 41.0)], [(3.0, 64.0)], [(64.2, 124.0)], []] if refine else
             [[(60.0, 70.5)], [(50.0, 64.0), (60.0, 64.0)], [(40.0, 40.0), (50.5, 41.0)], [(3.0, 64.0)], [(64.0, 124.0)], []])
    maps = np.stack([_disk_map(P, c, r, soft=refine) for c in cases])
    c = find_candidates(maps, prof)
    for i, cen in enumerate(cases):
        got = c[c.patch_id == i]
        assert len(got) == len(cen), (i, got)
        for x, y in cen:
            # refined: < 0.25 px; the thesis' plain group mean is quantised to half a pixel
            assert np.hypot(got.x_px - x, got.y_px - y).min() < (0.25 if refine else 0.5 + 1e-9), (i, got)
    assert (c.score <= 69).all() and (c.peak_prob > 0.9).all()
    assert np.allclose(c.edge_px, np.minimum.reduce([c.x_px + 0.5, P - 0.5 - c.x_px, c.y_px + 0.5, P - 0.5 - c.y_px]))

def test_random_disks_quick(quick):
    P, r = quick.finest_npix, quick.patches.mask_radius_px
    maps, truth = synthetic_prob_maps(60, P, r, 5, np.random.default_rng(2), min_sep_px=2 * r + 1)
    for method in ('blob', 'log'):
        m = match_pixel_positions(find_candidates(maps, quick, method=method), truth, r)
        inner = truth.x_px.between(r, P - 1 - r) & truth.y_px.between(r, P - 1 - r)
        assert m.found[inner].all()
        assert np.nanmax(np.hypot(m.dx_px, m.dy_px)[inner]) < 0.5

def test_empty_and_bad_input(quick):
    P = quick.finest_npix
    c = find_candidates(np.zeros((3, P, P), np.float32), quick)
    assert len(c) == 0 and list(c.columns[:4]) == ['patch_id', 'x_px', 'y_px', 'score']
    assert len(find_candidates(np.zeros((3, P, P), np.float32), quick, method='log')) == 0
    with pytest.raises(ValueError, match='finest patch size'): find_candidates(np.zeros((2, P + 2, P + 2)), quick)
    with pytest.raises(ValueError, match='method'): find_candidates(np.zeros((2, P, P)), quick, method='hough')
    assert len(stitch(candidates_to_sky(c, None), 0.2)) == 0

def test_channel_axis_and_patch_ids(quick):
    P, r = quick.finest_npix, quick.patches.mask_radius_px
    maps = np.stack([_disk_map(P, [(10, 12)], r), _disk_map(P, [], r)])[..., None]
    c = find_candidates(maps, quick, patch_ids=np.array([17, 40]))
    assert c.patch_id.tolist() == [17]

def test_plateau_group_is_kept():
    "A large flat group whose maximum is below the next threshold becomes one source, not lost."
    score = np.zeros((1, 20, 20), np.int16); score[0, 5:9, 5:9] = 40     # 16 px at 40, max_group 5, next threshold 50
    c = cluster_scores(score, score.astype(float) / 69, 30, 10, 5)
    assert len(c) == 1 and abs(c.x_px[0] - 6.5) < 1e-9 and abs(c.y_px[0] - 6.5) < 1e-9

def _cands(l, b, pid, score, edge):
    return pd.DataFrame(dict(glon_deg=l, glat_deg=b, patch_id=pid, score=score, edge_px=edge, peak_prob=1.0, x_px=0.0, y_px=0.0))

def test_stitch_rules():
    c = _cands([10.0, 10.05, 10.02, 80.0], [5.0, 5.0, 5.02, -3.0], [1, 2, 3, 1], [40, 50, 10, 30], [10, 12, 2, 5])
    e = stitch(c, 0.15, 'edge')
    assert len(e) == 2
    row = e[e.n_merged == 3].iloc[0]
    assert row.glon_deg == 10.05 and row.score == 50 and row.edge_px == 12
    m = stitch(c, 0.15, 'mean').sort_values('n_merged')
    v = (lonlat_to_unit(c.glon_deg[:3], c.glat_deg[:3]) * np.array([40, 50, 10])[:, None]).sum(0)
    lm = np.degrees(np.arctan2(v[1], v[0]))
    assert abs(m.iloc[-1].glon_deg - lm) < 1e-9
    with pytest.raises(ValueError, match='rule'): stitch(c, 0.15, 'median')

def test_stitch_same_patch_not_merged_and_wrap():
    assert len(stitch(_cands([10.0, 10.05], [5, 5], [1, 1], [1, 1], [5, 5]), 0.15)) == 2
    w = stitch(_cands([359.95, 0.03], [0.0, 0.0], [1, 2], [1, 1], [3, 4]), 0.15, 'mean')
    assert len(w) == 1 and abs(((w.glon_deg[0] + 180) % 360) - 180 + 0.01) < 1e-6

def test_whole_sky_duplicates_are_merged(quick):
    "Sources drawn into every overlapping patch come out once each after stitching."
    from fermi_nb.patching import PatchGeometry
    geom = PatchGeometry.build(quick)
    rng = np.random.default_rng(4); n = 150
    l, b = rng.uniform(0, 360, n), np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    maps = synthetic_sky_prob_maps(geom, l, b, quick.patches.mask_radius_px, rng)
    pix = float(quick.patch_pixel_deg.min())
    cands = candidates_to_sky(find_candidates(maps, quick), geom)
    assert len(cands) > 1.5 * n
    whole = localise(maps, geom, quick, stitch_radius_deg=2 * pix)
    from scipy.spatial import cKDTree
    d, j = cKDTree(lonlat_to_unit(l, b)).query(lonlat_to_unit(whole.glon_deg, whole.glat_deg))
    assert len(whole) - len(np.unique(j)) <= 2
    assert np.median(np.degrees(2 * np.arcsin(d / 2))) < 0.3 * pix

def test_close_pair_is_deblended(lat6):
    "Two disks 1.4 r apart overlap into one group; the plateau rule keeps their two maximum-score islands apart."
    P, r = lat6.finest_npix, lat6.patches.mask_radius_px
    prof = load_profile('lat6', {'localisation.refine_centroid': False})
    for sep in (1.4 * r, 1.8 * r):
        cen = [(60.0, 64.0), (60.0 + sep, 64.0)]
        c = find_candidates(_disk_map(P, cen, r)[None], prof)
        assert len(c) == 2, (sep, c)
        for x, y in cen: assert np.hypot(c.x_px - x, c.y_px - y).min() < 0.75, (sep, c)
    # one disk stays one source, whatever the threshold step
    for step in (1.0, 10.0):
        one = load_profile('lat6', {'localisation.threshold_step': step})
        assert len(find_candidates(_disk_map(P, [(40.3, 50.6)], r)[None], one)) == 1
