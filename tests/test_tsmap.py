"TS-map reference stage (51b_ts_map) and the comparison at equal matched fraction (32_baseline, 52_real_sky)."
import json, logging, warnings
from pathlib import Path
import numpy as np, pandas as pd, pytest, healpy as hp
from fermi_nb.config import load_profile
from fermi_nb.patching import PatchGeometry, synthetic_sky
from fermi_nb.catalog import crossmatch_report
from fermi_nb.baseline import (purity_scan, completeness_at_matched_fraction, MATCHED_FRACTION_LEVELS, resumable_ts_peaks,
                               chunk_size, spread_patches, equal_purity_on_truth, equal_purity_metrics_on_truth,
                               equal_purity_table, equal_purity_metrics, score_column)
from fermi_nb.tsmap import fitted_background, map_patch_inputs, ts_map_detections
from fermi_nb.realsky import equal_purity_wide

ROOT = Path(__file__).resolve().parent.parent
RECORDED = ROOT / 'studies' / 'real_sky' / 'results' / 'recorded_run'

def _random_catalogues(seed=0, n_ref=300, n_det=400):
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame({'glon_deg': rng.uniform(0, 360, n_ref), 'glat_deg': np.degrees(np.arcsin(rng.uniform(-1, 1, n_ref))),
                        'Flux1000': 10 ** rng.uniform(-10, -8, n_ref)})
    near = rng.choice(n_ref, n_det // 2)
    det = pd.concat([ref.iloc[near][['glon_deg', 'glat_deg']] + rng.normal(0, 0.3, (len(near), 2)),
                     pd.DataFrame({'glon_deg': rng.uniform(0, 360, n_det - len(near)),
                                   'glat_deg': np.degrees(np.arcsin(rng.uniform(-1, 1, n_det - len(near))))})], ignore_index=True)
    det['glat_deg'] = det['glat_deg'].clip(-89.9, 89.9); det['glon_deg'] %= 360
    det['score'] = rng.uniform(0, 1, len(det)) + 0.5 * (np.arange(len(det)) < len(near))
    return det, ref

def test_purity_scan_equals_crossmatch_report_at_every_cut():
    det, ref = _random_catalogues()
    scan = purity_scan(det, ref, 0.5, 'score', 10.0, (1e-9, 3e-10))
    for band, tab in scan.groupby('band', sort=False):
        for _, row in tab.iloc[::37].iterrows():   # a brute-force cross-match of the cut catalogue
            rep = crossmatch_report(det[det.score >= row.min_score], ref, 0.5, 10.0, (1e-9, 3e-10), plot=False)
            d = rep['detections'].set_index('band').loc[band]
            c = rep['completeness'].set_index(['band', 'flux1000_min'])['completeness']
            assert d.n_det == row.n_det and d.n_matched == row.n_matched
            assert np.isclose(c[(band, 1e-9)], row['completeness_1e-09']) and np.isclose(c[(band, 3e-10)], row['completeness_3e-10'])
    assert (scan.groupby('band').n_det.diff().dropna() > 0).all()   # each row keeps more detections than the one before

def test_completeness_at_matched_fraction_is_the_best_allowed_cut():
    det, ref = _random_catalogues(1)
    scan = purity_scan(det, ref, 0.5, 'score', 10.0, (1e-9, 3e-10))
    ep = completeness_at_matched_fraction(scan, (0.5, 0.7, 0.999))
    for r in ep.itertuples():
        tab = scan[scan.band == r.band]; col = f'completeness_{r.flux_min:.0e}'
        ok = tab[tab.matched_fraction >= r.level]
        if ok.empty: assert np.isnan(r.completeness); continue
        assert r.completeness == ok[col].max() and r.matched_fraction >= r.level
        assert np.isclose(r.completeness_err, np.sqrt(r.completeness * (1 - r.completeness) / r.n_ref))
    assert ep.set_index(['band', 'flux_min', 'level']).completeness.groupby(level=[0, 1]).apply(
        lambda s: s.dropna().is_monotonic_decreasing).all()   # stricter purity, lower completeness

def test_purity_scan_bad_input():
    det, ref = _random_catalogues()
    with pytest.raises(ValueError, match="score column 'p_real'"): purity_scan(det, ref, 0.5, 'p_real', 10.0, (1e-9, 3e-10))

def test_equal_purity_table_wide_and_metrics():
    det, ref = _random_catalogues(2)
    prof = load_profile('real573w')
    cats = {'DL': det.assign(p_real=det.score), 'TS map': det.assign(score=-det.score)}
    assert score_column(cats['DL']) == 'p_real' and score_column(cats['TS map']) == 'score'
    tab, scans = equal_purity_table(cats, ref, prof)
    assert set(tab.level) == set(MATCHED_FRACTION_LEVELS) and list(scans) == ['DL', 'TS map']
    wide = equal_purity_wide(tab, (0.9,))
    assert list(wide.index) == ['DL', 'TS map'] and wide.shape == (2, 4) and '|b|>10 F>1e-09 P0.9' in wide.columns
    m = equal_purity_metrics(tab)
    assert np.isclose(m['ep_dl_highb_1e-09_p0.9'], wide.loc['DL', '|b|>10 F>1e-09 P0.9'], equal_nan=True)
    assert 'ep_ts_map_lowb_3e-10_p0.98_err' in m
    # ranking the TS-map copy by the reversed score (true detections last) gives no better completeness
    assert (np.nan_to_num(wide.loc['TS map'].to_numpy(float)) <= np.nan_to_num(wide.loc['DL'].to_numpy(float)) + 1e-12).all()

@pytest.fixture(scope='module')
def demo_sky():
    "Two high-latitude patches of the real573w grid with three bright sources each on a flat background (HEALPix Poisson)."
    warnings.filterwarnings('ignore'); logging.getLogger('gammapy').setLevel(logging.ERROR)
    prof = load_profile('real573w', {'instrument.psf_file': None, 'instrument.aeff_file': None})   # analytic PSF: no data needed
    geom = PatchGeometry.build(prof)
    ids = np.flatnonzero(geom.centres_glat_deg > 40)[:2]
    P = geom.npix_of(None); rng = np.random.default_rng(4)
    l, b = geom.pixel_to_sky(np.repeat(ids, 3), rng.uniform(15, P - 15, 6), rng.uniform(15, P - 15, 6))
    src, truth = synthetic_sky(prof, background_per_sr=0.0, source_counts=200.0, sigma_hp_px=0.5, glon_deg=l, glat_deg=b)
    npix = hp.nside2npix(prof.nside[0])
    counts = [rng.poisson(src[0] + 10.0).astype(float)]
    bkg, _ = fitted_background(counts[0], {'flat': np.ones(npix)})
    inputs = map_patch_inputs(geom, counts, [bkg], [np.full(npix, prof.instrument.exposure_cm2_s)])
    return prof, geom, ids, inputs, truth

def test_ts_map_detections_finds_sources_and_resumes(demo_sky, tmp_path):
    prof, geom, ids, inputs, truth = demo_sky
    det, cpu, peaks = ts_map_detections(geom, inputs, prof, 3.0, 2, patch_ids=ids, work_dir=tmp_path, chunk_patches=1)
    assert len(cpu) == 2 and (cpu > 0).all() and sorted(p.name for p in (tmp_path / 'chunks').iterdir())[0] == 'chunk_0000.csv'
    rep = crossmatch_report(det[det.score >= 5], truth.assign(Flux1000=1e-8), 0.3, 10.0, (1e-9, 3e-10), plot=False)
    assert rep['ref_match']['idx_ref'].ge(0).all()                      # all six bright sources found
    assert det.score.is_monotonic_decreasing and np.allclose(det.ts, det.score ** 2)
    (tmp_path / 'chunks' / 'chunk_0001.json').unlink()                  # an interrupted run: the second chunk is redone
    again, cpu2, _ = ts_map_detections(geom, inputs, prof, 3.0, 2, patch_ids=ids, work_dir=tmp_path, chunk_patches=1)
    assert cpu2[0] == cpu[0] and len(again) == len(det) and np.allclose(again.score, det.score)

def test_resumable_ts_peaks_refuses_stale_chunks_and_shares_workers(demo_sky, tmp_path):
    prof, geom, ids, inputs, truth = demo_sky
    counts = [c[ids] for c in inputs['counts']]
    first, cpu = resumable_ts_peaks(geom, ids, counts, inputs, 3.0, 2, work_dir=tmp_path, chunk_patches=1)
    rec = json.loads((tmp_path / 'chunks' / 'chunk_0000.json').read_text())
    assert rec['patch_ids'] == [int(ids[0])] and len(rec['inputs_sha1']) == 40 and rec['sqrt_ts_threshold'] == 3.0
    # other counts in the first patch: its chunk is recomputed (new peaks), the second chunk is read back (same CPU record)
    bright = [c.copy() for c in counts]; bright[0][0, 30:33, 30:33] += 400.0
    changed, cpu2 = resumable_ts_peaks(geom, ids, bright, inputs, 3.0, 2, work_dir=tmp_path, chunk_patches=1)
    assert cpu2[1] == cpu[1] and cpu2[0] != cpu[0]
    assert len(changed[changed.patch_id == ids[0]]) > len(first[first.patch_id == ids[0]]) or changed.sqrt_ts.max() > first.sqrt_ts.max()
    assert json.loads((tmp_path / 'chunks' / 'chunk_0000.json').read_text())['inputs_sha1'] != rec['inputs_sha1']
    # a higher threshold is not served from the chunks of the lower one
    strict, _ = resumable_ts_peaks(geom, ids, counts, inputs, 15.0, 2, work_dir=tmp_path, chunk_patches=1)
    assert first.sqrt_ts.min() < 15.0 <= strict.sqrt_ts.min() and len(strict) < len(first)
    assert json.loads((tmp_path / 'chunks' / 'chunk_0001.json').read_text())['sqrt_ts_threshold'] == 15.0
    # two worker processes give the same peaks as one; the default chunk of 32 is split so that each worker gets a chunk
    shared, cpu_shared = resumable_ts_peaks(geom, ids, counts, inputs, 3.0, 2, work_dir=tmp_path / 'shared', n_workers=2)
    assert len(shared) == len(first) and np.allclose(shared[['x_px', 'y_px', 'sqrt_ts']], first[['x_px', 'y_px', 'sqrt_ts']])
    assert len(cpu_shared) == 2 and (cpu_shared > 0).all()
    assert sorted(p.name for p in (tmp_path / 'shared' / 'chunks').glob('*.json')) == ['chunk_0000.json', 'chunk_0001.json']
    with pytest.raises(ValueError, match='no patches'): resumable_ts_peaks(geom, [], counts, inputs, 3.0)

def test_chunk_size_gives_every_worker_two_chunks():
    assert chunk_size(100, 32, 1) == 32                             # one process: the chunk asked for
    assert chunk_size(100, 32, 2) == 25 and chunk_size(128, 32, 16) == 4   # 4 chunks for 2 workers, 32 for 16
    assert chunk_size(768, 32, 2) == 32 and chunk_size(3, 32, 4) == 1      # a whole sky keeps its chunks; never below 1

def test_spread_patches_cover_both_bands(demo_sky):
    prof, geom, *_ = demo_sky
    ids = spread_patches(geom, 128)
    b = geom.centres_glat_deg[ids]
    assert len(ids) == 128 and len(np.unique(ids)) == 128 and b.max() > 60 and b.min() < -60
    frac_plane = np.mean(np.abs(b) < 10)   # area fraction of |b| < 10°: sin(10°) = 0.17
    assert 0.10 < frac_plane < 0.25
    with pytest.raises(ValueError, match='n_patches must be 1..768'): spread_patches(geom, 0)

def test_equal_purity_on_truth_reads_both_lists(monkeypatch):
    det, ref = _random_catalogues(3)
    prof = load_profile('real573w', {'localisation.match_radius_deg': 0.5})
    truth = ref.assign(spectrum_type='PowerLaw')
    from fermi_nb import baseline
    monkeypatch.setattr(baseline, 'band_photon_flux', lambda df, lo, hi: df['Flux1000'].to_numpy(float))   # the truth's flux given
    tab = equal_purity_on_truth({'miun': det, 'baseline': det.assign(score=-det.score)}, truth, prof)
    direct = completeness_at_matched_fraction(purity_scan(det, ref, 0.5, 'score', 10.0, (1e-9, 3e-10)))
    mine = tab[tab.method == 'miun'].drop(columns='method').reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, direct)
    m = equal_purity_metrics_on_truth(tab)
    row = direct[(direct.level == 0.95) & direct.band.str.startswith('|b|>') & (direct.flux_min == 3e-10)].iloc[0]
    assert np.isclose(m['ep_miun_highb_3e-10_p0.95'], row.completeness, equal_nan=True)
    assert np.isclose(m['ep_miun_highb_3e-10_p0.95_err'], row.completeness_err, equal_nan=True)
    assert len(m) == 16

def test_map_patch_inputs_checks_maps(demo_sky):
    prof, geom, *_ = demo_sky
    with pytest.raises(ValueError, match=r"background_maps\[0\] has shape \(12,\)"):
        map_patch_inputs(geom, [np.zeros(hp.nside2npix(prof.nside[0]))], [np.zeros(12)], [np.ones(hp.nside2npix(prof.nside[0]))])
    with pytest.raises(ValueError, match='exposure_maps has 0 maps'):
        map_patch_inputs(geom, [np.zeros(hp.nside2npix(prof.nside[0]))] * 1, [np.zeros(hp.nside2npix(prof.nside[0]))], [])

@pytest.mark.skipif(not (RECORDED / 'summary.json').is_file(), reason='no recorded real-sky run committed')
def test_recorded_real_sky_results_are_consistent():
    rec = json.loads((RECORDED / 'summary.json').read_text())
    table = pd.read_csv(RECORDED / 'crossmatch.csv', index_col='catalogue')
    ep = pd.read_csv(RECORDED / 'equal_purity.csv'); sky = pd.read_csv(RECORDED / 'sky_map.csv')
    assert {'DL', 'classical'} <= set(rec['catalogues']) and set(ep.catalogue) == set(rec['catalogues'])
    for name, c in rec['catalogues'].items():
        assert table.loc[f'{name} (radius)', ['highb_n_det', 'lowb_n_det']].sum() == c['n_det']
    assert (sky.kind != '4FGL-DR2 missed').sum() == rec['catalogues']['DL']['n_det']
    ok = ep.dropna(subset=['completeness'])
    assert ((ok.matched_fraction >= ok.level - 1e-9) & ok.completeness.between(0, 1)).all()
