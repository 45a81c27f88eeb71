"""Tests of fermi_nb.patching on the quick profile with synthetic HEALPix skies (no other stage needed)."""
import numpy as np
import pandas as pd
import healpy as hp
import pytest

from fermi_nb.config import load_profile
from fermi_nb import patching
from fermi_nb.patching import (PatchGeometry, PatchStore, write_patch_store, synthetic_sky, reference_patch_counts,
                               gnomonic_pixel_solid_angle, cut_sky, sky_geometry, _source_offsets)


@pytest.fixture(scope='module')
def profile():
    return load_profile('quick')


@pytest.fixture(scope='module')
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp('patch_tables')


@pytest.fixture(scope='module')
def geom(profile, cache):
    return PatchGeometry.build(profile, cache_dir=cache)


@pytest.fixture(scope='module')
def geom_rot(profile, cache):
    return PatchGeometry.build(profile, rotation_seed=11, cache_dir=cache)


@pytest.fixture(scope='module')
def sky(profile):
    return synthetic_sky(profile, n_sources=40, seed=3)


@pytest.mark.parametrize('rotated', [False, True])
def test_round_trip(geom, geom_rot, rotated):
    g = geom_rot if rotated else geom
    rng = np.random.default_rng(1)
    for k in [None] + list(range(g.n_bins)):
        n = g.npix_of(k)
        pid = rng.integers(0, g.n_patches, 3000)
        x, y = rng.uniform(-0.5, n - 0.5, (2, pid.size))
        l, b = g.pixel_to_sky(pid, x, y, k)
        assert ((l >= 0) & (l < 360)).all() and (np.abs(b) <= 90).all()
        x2, y2 = g.sky_to_pixel(pid, l, b, k)
        assert np.max(np.hypot(x2 - x, y2 - y)) < 0.01


def test_grids_consistent_between_bins(geom):
    # the same sky position: x_k = (x_f + 1/2) n_k / P - 1/2
    l, b = geom.pixel_to_sky(5, 3.3, 20.7)
    P = geom.finest_npix
    for k in range(geom.n_bins):
        xk, yk = geom.sky_to_pixel(5, l, b, k)
        n = geom.npix[k]
        assert abs(xk - ((3.3 + 0.5) * n / P - 0.5)) < 1e-9 and abs(yk - ((20.7 + 0.5) * n / P - 0.5)) < 1e-9


@pytest.mark.parametrize('rotated', [False, True])
def test_orientation_local_galactic_north(geom, geom_rot, rotated):
    g = geom_rot if rotated else geom
    c = (g.finest_npix - 1) / 2
    ids = np.arange(0, g.n_patches, 7)
    ids = ids[np.abs(g.centres_glat_deg[ids]) < 80]
    l0, b0 = g.pixel_to_sky(ids, c, c)
    assert np.allclose(l0, g.centres_glon_deg[ids]) and np.allclose(b0, g.centres_glat_deg[ids])
    _, b_up = g.pixel_to_sky(ids, c, c + 5)
    l_up, _ = g.pixel_to_sky(ids, c, c + 5)
    l_r, b_r = g.pixel_to_sky(ids, c + 5, c)
    assert (b_up > b0).all()
    assert np.allclose(((l_up - l0 + 180) % 360) - 180, 0, atol=1e-9)          # straight up keeps l
    assert (((l_r - l0 + 180) % 360) - 180 < 0).all()                           # right = decreasing l


def test_rotation_changes_centres_only_when_seeded(profile, cache):
    a = PatchGeometry.build(profile, cache_dir=cache)
    b = PatchGeometry.build(profile, rotation_seed=5, cache_dir=False)
    c = PatchGeometry.build(profile, rotation_seed=5, cache_dir=False)
    assert np.array_equal(b.centres_glon_deg, c.centres_glon_deg) and b.key == c.key != a.key
    l, bb = hp.pix2ang(profile.patches.grid_nside, np.arange(profile.n_patches), lonlat=True)
    assert np.allclose(a.centres_glon_deg, l) and np.allclose(a.centres_glat_deg, bb)
    assert not np.allclose(b.centres_glat_deg, bb)


def test_pixel_solid_angle_sums_to_patch():
    h = np.radians(10.0) / 2
    assert abs(gnomonic_pixel_solid_angle(64, 10.0).sum() - 4 * np.arctan(h * h / np.sqrt(1 + 2 * h * h))) < 1e-12


def test_flat_map_gives_density_times_solid_angle(geom):
    flat = [np.full(hp.nside2npix(n), 3.0 * hp.nside2pixarea(n), np.float32) for n in geom.nside]
    cuts = geom.cut(flat)
    for k, c in enumerate(cuts):
        assert c.shape == (geom.n_patches, geom.npix[k], geom.npix[k]) and c.dtype == np.float32
        assert np.allclose(c, 3.0 * gnomonic_pixel_solid_angle(geom.npix[k], geom.size_deg)[None], rtol=1e-5)


@pytest.mark.parametrize('rotated', [False, True])
def test_counts_conserved_within_2_percent(geom, geom_rot, sky, rotated):
    g = geom_rot if rotated else geom
    maps, sources = sky
    cuts = g.cut(maps)
    ids = np.r_[g.patch_of(sources.glon_deg, sources.glat_deg).patch_id.unique()[:5], [3, 400, 765]]
    for k in range(g.n_bins):
        for p in ids:
            ref = reference_patch_counts(g, maps[k], k, p)
            assert abs(cuts[k][p].sum() / ref - 1) < 0.02, (k, p)


def test_source_lands_at_right_pixel(geom, profile):
    # near an edge, across l = 0/360 (both sides), high latitude, and in a rotated grid
    pe = 123; P = geom.finest_npix
    le, be = geom.pixel_to_sky(pe, 1.8, P / 2)
    ls, bs = np.array([le, 359.6, 0.3, 359.99, 250.0]), np.array([be, 3.5, 5.5, -4.0, -70.0])
    parts = []
    for i in range(len(ls)):   # one source per sky, so that the brightest pixel is that source's
        maps, _ = synthetic_sky(profile, glon_deg=ls[i], glat_deg=bs[i], source_counts=1000.0, background_per_sr=2e3)
        parts.append(_source_offsets(geom, geom.cut(maps), ls[i:i + 1], bs[i:i + 1], 2e3).assign(index=i))
    off = pd.concat(parts, ignore_index=True)
    assert set(off['index']) == set(range(len(ls)))
    assert off.groupby(['index', 'patch_id']).k.nunique().eq(geom.n_bins).all()   # every bin of every containing patch
    assert (off.peak_offset_px <= 1.0).all()
    assert off.centroid_offset_px.notna().sum() > 5 and off.centroid_offset_px.max() < 0.25
    assert ((off['index'] == 0) & (off.patch_id == pe)).sum() == geom.n_bins
    # the sources at l ≈ 359.x are found in a patch centred at l < 180 (the projection crosses the meridian)
    assert (geom.centres_glon_deg[off[off['index'].isin([1, 3])].patch_id] < 180).any()


def test_source_in_rotated_grid(geom_rot, profile):
    ls, bs = np.array([10.0, 359.9]), np.array([-30.0, 0.5])
    maps, _ = synthetic_sky(profile, glon_deg=ls, glat_deg=bs, source_counts=1000.0, background_per_sr=2e3)
    off = _source_offsets(geom_rot, geom_rot.cut(maps), ls, bs, 2e3)
    assert set(off['index']) == {0, 1} and (off.peak_offset_px <= 1.0).all()


def test_patch_of_and_best_patch(geom):
    df = geom.patch_of([359.95, 0.05, 120.0], [0.1, -0.1, 60.0])
    assert set(df['index']) == {0, 1, 2} and (df.edge_px > 0).all()
    assert (df.groupby('index').edge_px.apply(lambda e: (np.diff(e.to_numpy()) <= 0).all())).all()
    pid, edge = geom.best_patch([359.95, 120.0], [0.1, 60.0])
    assert pid[1] == df[df['index'] == 2].patch_id.iloc[0] and edge[1] == df[df['index'] == 2].edge_px.max()
    x, y = geom.sky_to_pixel(pid, [359.95, 120.0], [0.1, 60.0])
    assert np.allclose(geom.edge_distance_px(x, y), edge)


def test_masks_and_source_lists_agree(geom, sky, profile):
    _, sources = sky
    sip = geom.sources_in_patches(sources)
    masks = geom.target_masks(sources)
    assert masks.shape == (geom.n_patches, geom.finest_npix, geom.finest_npix) and masks.dtype == np.uint8
    assert set(sip.columns) >= {'patch_id', 'source_id', 'x_px', 'y_px', 'glon_deg', 'glat_deg', 'cls', 's1_ph_cm2_s', 'expected_ts'}
    r = profile.patches.mask_radius_px
    P = geom.finest_npix
    assert ((sip.x_px >= -0.5) & (sip.x_px < P - 0.5) & (sip.y_px >= -0.5) & (sip.y_px < P - 0.5)).all()
    ix, iy = np.floor(sip.x_px + 0.5).astype(int), np.floor(sip.y_px + 0.5).astype(int)
    assert (masks[sip.patch_id, iy, ix] == 1).all()
    for p in range(geom.n_patches):
        g = sip[sip.patch_id == p]
        yy, xx = np.nonzero(masks[p])
        if len(g) == 0:
            assert len(yy) == 0
            continue
        d2 = ((xx[:, None] - g.x_px.to_numpy()) ** 2 + (yy[:, None] - g.y_px.to_numpy()) ** 2).min(1)
        assert (d2 <= r * r + 1e-9).all()
        # and the disk is complete: every in-patch pixel within r of a source is set
        gy, gx = np.mgrid[:P, :P]
        dd = ((gx[..., None] - g.x_px.to_numpy()) ** 2 + (gy[..., None] - g.y_px.to_numpy()) ** 2).min(-1)
        assert np.array_equal(masks[p] == 1, dd <= r * r)
    # the source positions map back to the sky
    l, b = geom.pixel_to_sky(sip.patch_id.to_numpy(), sip.x_px.to_numpy(), sip.y_px.to_numpy())
    assert np.allclose(l, sip.glon_deg, atol=1e-8) and np.allclose(b, sip.glat_deg, atol=1e-8)


def test_table_cache_on_disk(profile, cache, geom, sky):
    maps, _ = sky
    patching._TABLE_CACHE.clear(); geom._tables = None   # another test module may have built this geometry in memory first
    geom.load_tables()
    assert (cache / f'{geom.key}.npz').exists()
    patching._TABLE_CACHE.clear()
    fresh = PatchGeometry.build(profile, cache_dir=cache)
    assert all(np.array_equal(a, b) for a, b in zip(fresh.cut(maps), geom.cut(maps)))
    assert not list(cache.glob('*.tmp*'))


def test_nearest_interpolation(profile, sky):
    g = PatchGeometry.build(profile, interpolation='nearest', cache_dir=False)
    maps, sources = sky
    flat = [np.full(hp.nside2npix(n), 2.0 * hp.nside2pixarea(n), np.float32) for n in g.nside]
    assert np.allclose(g.cut(flat)[1], 2.0 * gnomonic_pixel_solid_angle(g.npix[1], g.size_deg)[None], rtol=1e-5)
    p = int(g.patch_of(sources.glon_deg[:1], sources.glat_deg[:1]).patch_id.iloc[0])
    assert abs(g.cut(maps)[2][p].sum() / reference_patch_counts(g, maps[2], 2, p) - 1) < 0.03


def test_bad_input(geom, profile):
    with pytest.raises(ValueError, match='one per energy bin'):
        geom.cut([np.zeros(hp.nside2npix(64))])
    with pytest.raises(ValueError, match=r'nside\[1\]=128'):
        geom.cut([np.zeros(hp.nside2npix(n)) for n in (64, 64, 128)])
    with pytest.raises(ValueError, match='source_id'):
        geom.sources_in_patches(pd.DataFrame(dict(glon_deg=[1.0], glat_deg=[2.0])))
    with pytest.raises(ValueError, match='patch_id out of range'):
        geom.pixel_to_sky(geom.n_patches, 0.0, 0.0)
    with pytest.raises(ValueError, match='interpolation'):
        PatchGeometry.build(profile, interpolation='cubic')


def test_store_and_poisson(tmp_path, profile, geom, geom_rot, sky):
    maps, sources = sky
    sky2 = synthetic_sky(profile, n_sources=10, seed=9)
    path = write_patch_store(tmp_path / 'patches.h5', [(maps, sources), sky2],
                             lambda i, s: geom_rot if i == 0 else geom, profile, progress=False)
    assert not list(tmp_path.glob('.*tmp'))
    with PatchStore(path) as store:
        assert len(store) == 2 * geom.n_patches and store.n_skies == 2 and store.profile.nside == profile.nside
        cuts, masks, sip = cut_sky(geom_rot, (maps, sources))
        rows = np.array([700, 3, 3, 1000, 12])
        a = store.asimov(rows)
        for k in range(profile.n_bins):
            assert np.array_equal(a[k][0], cuts[k][700]) and np.array_equal(a[k][1], a[k][2])
        assert np.array_equal(store.mask(rows)[0], masks[700])
        assert len(store.sources[store.sources.sky_index == 0]) == len(sip)
        assert store.geometry(0).key == geom_rot.key and store.geometry(1).key == geom.key
        assert store.row(1, 4) == geom.n_patches + 4
        # Poisson: mean and variance equal the Asimov counts
        idx = np.arange(0, len(store), 50)
        lam = store.asimov(idx)
        rng = np.random.default_rng(0)
        draws = [store.sample(idx, rng) for _ in range(300)]
        for k in range(profile.n_bins):
            d = np.stack([x[k] for x in draws]).astype(float)
            z = (d.mean(0).sum() - lam[k].sum()) / np.sqrt(lam[k].sum() / d.shape[0])
            assert abs(z) < 4
            assert abs(d.var(0, ddof=1).sum() / lam[k].sum() - 1) < 0.02
        assert all(np.array_equal(x, y) for x, y in zip(store.sample(idx, 5), store.sample(idx, 5)))
        assert not np.array_equal(store.sample(idx)[2], store.sample(idx)[2])
    mem = PatchStore(path, in_memory=True)
    assert np.array_equal(mem.asimov(rows)[2], a[2])


def test_sky_geometry(profile):
    assert sky_geometry(profile, 42, training=True, cache_dir=False).rotation_seed == 42
    assert sky_geometry(profile, 42, training=False, cache_dir=False).rotation_seed is None


def test_split_stores_from_simulated_sky(tmp_path, profile, cache):
    from fermi_nb import sky as sky_mod
    from fermi_nb.patching import write_split_stores
    sky = sky_mod.simulate_sky(profile, 2)
    sky.save(tmp_path / 'sim' / 'train'); sky.save(tmp_path / 'sim' / 'test')
    dirs = {s: sorted((tmp_path / 'sim' / s).glob('sky_*')) for s in ('train', 'test')}
    stores = write_split_stores(profile, dirs, tmp_path / 'patching', cache_dir=cache, progress=False)
    with PatchStore(stores['train']) as tr, PatchStore(stores['test']) as te:
        assert list(tr.sky_seed) == [2] and list(tr.sky_rotation_seed) == [2] and list(te.sky_rotation_seed) == [-1]
        g = te.geometry(0)
        cuts, masks, sip = cut_sky(g, sky)
        assert np.allclose(te.asimov(np.arange(5))[0], cuts[0][:5]) and np.array_equal(te.mask(np.arange(len(te))), masks)
        assert len(te.sources) == len(sip) and 'expected_ts' in te.sources.columns
        # overlap: total patch counts ≈ 1.85 × the sky's (the grid covers the sky ~1.85 times)
        ratio = cuts[0].sum() / sky.counts(0).sum()
        assert 1.7 < ratio < 2.0
    mtime = stores['train'].stat().st_mtime_ns
    write_split_stores(profile, dirs, tmp_path / 'patching', cache_dir=cache, progress=False)   # complete: kept
    assert stores['train'].stat().st_mtime_ns == mtime
    # other patch settings (target disks here): the stale store is not reused but cut again, and says so
    from dataclasses import replace
    wider = replace(profile, patches=replace(profile.patches, mask_radius_px=profile.patches.mask_radius_px + 1))
    write_split_stores(wider, dirs, tmp_path / 'patching', cache_dir=cache, progress=False)
    with PatchStore(stores['train']) as tr:
        assert tr.profile.patches.mask_radius_px == profile.patches.mask_radius_px + 1
        assert tr.mask(np.arange(len(tr))).sum() > 0


def test_mask_min_expected_ts_marks_only_visible_sources():
    "patches.mask_min_expected_ts: sources below the cut get no target disk; the cut needs expected_ts."
    import pandas as pd, pytest
    from fermi_nb.config import load_profile
    from fermi_nb.patching import PatchGeometry
    prof = load_profile('quick', {'patches.mask_min_expected_ts': 25.0})
    geom = PatchGeometry.build(prof, cache_dir=False)
    src = pd.DataFrame({'source_id': [0, 1], 'glon_deg': [geom.centres_glon_deg[100]] * 2,
                        'glat_deg': [geom.centres_glat_deg[100], geom.centres_glat_deg[100] + 2.0],
                        'cls': ['BLL', 'BLL'], 's1_ph_cm2_s': [1e-9, 1e-9], 'expected_ts': [100.0, 4.0]})
    masks = geom.target_masks(src)
    uncut = PatchGeometry.build(load_profile('quick'), cache_dir=False)
    assert 0 < masks.sum() < uncut.target_masks(src).sum()               # the faint source lost its disk
    assert np.array_equal(masks, uncut.target_masks(src.iloc[:1]))       # exactly the bright source's disks remain
    with pytest.raises(ValueError, match='mask_min_expected_ts'):
        geom.target_masks(src.drop(columns='expected_ts'))
