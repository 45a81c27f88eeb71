"Real-sky stage: detection chain on synthetic whole-sky maps (no data), cross-match tables, CLI; the real map where present."
import os, json
from pathlib import Path
import numpy as np, pandas as pd, pytest, healpy as hp

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault('FERMI_NB_DATA', str(ROOT.parent / 'shared' / 'data'))
from fermi_nb.config import load_profile, ProfileError
from fermi_nb.data import have_data
from fermi_nb.patching import PatchGeometry, synthetic_sky
from fermi_nb.localisation import synthetic_sky_prob_maps
from fermi_nb.catalog import report_headline, crossmatch_report, load_4fgl, write_catalog, read_catalog
from fermi_nb.data import real_counts_maps
from fermi_nb.realsky import (detect_sources, crossmatch_reports, headline_table, goal_check,
                              real_sky_summary, catalog_cli, load_classical, GOALS_DL, CLASSICAL_ISSUE, headline_columns)

REAL = load_profile('real573w')
_keys = [REAL.real_data.counts_map, REAL.real_data.exposure_map, REAL.real_data.source_mask, REAL.real_data.catalog]
needs_real = pytest.mark.skipif(not all(have_data(k) for k in _keys), reason='real 573-week data / 4FGL-DR2 not present')

@pytest.fixture(scope='module')
def quick(): return load_profile('quick')

@pytest.fixture(scope='module')
def synthetic(quick):
    "A small synthetic whole sky of the quick profile (3 bins) with 40 sources, Poisson-sampled on HEALPix."
    maps, truth = synthetic_sky(quick, n_sources=40, seed=11, source_counts=400.0)
    rng = np.random.default_rng(0)
    return [rng.poisson(m).astype(float) for m in maps], truth

def _oracle(geom, truth, profile, seen=None):
    "Stand-in detector: disks at the true positions (what a perfect MIUN would return), records its inputs."
    def predict(inputs):
        if seen is not None: seen.append([x.shape for x in inputs])
        return synthetic_sky_prob_maps(geom, truth['glon_deg'].to_numpy(), truth['glat_deg'].to_numpy(),
                                       profile.patches.mask_radius_px, np.random.default_rng(1))
    return predict

def test_detect_sources_recovers_oracle_positions(quick, synthetic):
    counts, truth = synthetic
    geom = PatchGeometry.build(quick)
    seen = []
    det, prob = detect_sources(counts, _oracle(geom, truth, quick, seen), quick, geom)
    assert seen == [[(geom.n_patches, n, n) for n in quick.patches.npix]]     # one cut per bin, every patch
    assert prob.shape == (geom.n_patches, geom.npix_of(None), geom.npix_of(None))
    rep = crossmatch_report(det, truth.assign(Flux1000=1e-8), 0.5, 10.0, (1e-9, 3e-10), plot=False)
    assert rep['ref_match']['idx_ref'].ge(0).all()                              # every source found once stitched
    assert rep['det_match']['idx_ref'].ge(0).all() and len(det) == len(truth)   # no duplicates from overlapping patches
    assert rep['det_match']['sep_deg'].max() < 0.3

def test_detect_sources_bad_model_output(quick, synthetic):
    counts, _ = synthetic
    with pytest.raises(ValueError, match='probabilities of shape'):
        detect_sources(counts, lambda inputs: np.zeros((3, 4, 4)), quick)
    with pytest.raises(ValueError, match='energy bin'):
        detect_sources(counts[:1], lambda inputs: None, quick)

def test_real_counts_maps_rejects_profiles_without_real_map(quick):
    with pytest.raises(ValueError, match='real_data.counts_map|energy bins'): real_counts_maps(quick)
    with pytest.raises(ValueError, match='names no real_data.counts_map'):
        real_counts_maps(load_profile('real573w', {'real_data.counts_map': None}))

def test_crossmatch_tables_and_goals():
    ref = pd.DataFrame({'glon_deg': [10.0, 100.0, 200.0, 5.0], 'glat_deg': [30.0, -40.0, 2.0, -3.0],
                        'Flux1000': [2e-9, 5e-10, 2e-9, 4e-10], 'r95_deg': [0.05, 0.05, 0.05, 0.05]})
    det = pd.DataFrame({'glon_deg': [10.0, 100.0 + 0.4 / np.cos(np.radians(40)), 300.0, 200.02],
                        'glat_deg': [30.05, -40.0, 50.0, 2.0], 'r95_deg': [0.1, 0.1, 0.1, np.nan]})
    reps = crossmatch_reports(det, ref, REAL, plot=False)
    h = report_headline(reps['radius'])
    assert h['highb_comp_1e-09'] == 1.0 and h['highb_comp_3e-10'] == 1.0 and h['highb_n_det'] == 3
    assert np.isclose(h['highb_matched'], 2 / 3) and h['lowb_comp_1e-09'] == 1.0 and h['lowb_comp_3e-10'] == 0.5
    he = report_headline(reps['error'])   # 0.4° apart with r95 0.1 and 0.05: beyond the error circles
    assert he['highb_comp_3e-10'] == 0.5 and np.isclose(he['highb_matched'], 1 / 3) and he['lowb_matched'] == 1.0
    t = headline_table({'DL': reps['radius'], 'DL err': reps['error']}, {'goal': GOALS_DL, 'classical (issue)': CLASSICAL_ISSUE})
    assert list(t.columns) == headline_columns(REAL.real_data.completeness_flux_ph_cm2_s) and list(t.index) == ['DL', 'DL err', 'goal', 'classical (issue)']
    assert t.loc['goal', 'highb_comp_1e-09'] == 0.95 and np.isnan(t.loc['goal', 'highb_n_det'])
    g = goal_check(h)
    assert g.set_index('criterion').loc['highb_comp_1e-09', 'met'] and not g.set_index('criterion').loc['highb_matched', 'met']

def test_catalog_cli_and_summary(tmp_path, capsys):
    assert catalog_cli(['--profile', 'quick', '--out', str(tmp_path / 'run')]) == 1
    assert 'names no real_data.counts_map' in capsys.readouterr().err
    assert 'no real-sky result' in real_sky_summary(tmp_path / 'run')
    (tmp_path / 'metrics').mkdir()
    m = {'catalog': 'c.fits', 'n_det': 10, 'characterised': True, 'goals_met': 2, 'goals_total': 6,
         **{f'dl_{k}': 0.5 for k in GOALS_DL}, **{f'classical_{k}': v for k, v in CLASSICAL_ISSUE.items()},
         'dl_highb_n_det': 7, 'dl_lowb_n_det': 3, 'classical_highb_n_det': 783, 'classical_lowb_n_det': 250}
    (tmp_path / 'metrics' / 'real_sky.json').write_text(json.dumps(m))
    assert 'goals met' not in real_sky_summary(tmp_path) and 'goal DL' not in real_sky_summary(tmp_path)   # no profile: no goals
    (tmp_path / 'profile.yaml').write_text(REAL.to_yaml())        # the run's profile sets the goals of its map
    s = real_sky_summary(tmp_path)
    assert 'c.fits' in s and 'goals met: 2 of 6' in s and '0.860' in s and '783' in s
    assert 'equal matched fraction' not in s                       # a run without the comparison: no such block
    m.update({'ep_dl_lowb_3e-10_p0.95': 0.349, 'ep_dl_lowb_3e-10_p0.95_err': 0.02, 'ep_ts_map_lowb_3e-10_p0.95': 0.269,
              'ep_ts_map_lowb_3e-10_p0.95_err': 0.018, 'ep_classical_lowb_3e-10_p0.95': 0.2, 'dl_cpu_s': 13.0, 'ts_map_cpu_s': 336.0})
    (tmp_path / 'metrics' / 'real_sky.json').write_text(json.dumps(m))
    s = real_sky_summary(tmp_path)
    line = next(l for l in s.splitlines() if l.startswith('|b|<10 F>3e-10 P0.95'))
    assert line.split()[3:] == ['0.349', '±', '0.020', '0.269', '±', '0.018', '0.200', '±', 'nan']
    assert 'DL 13, TS map 336 (26×)' in s

def test_load_ts_map(tmp_path):
    from fermi_nb.realsky import load_ts_map
    assert load_ts_map(tmp_path) == (None, {})
    (tmp_path / 'ts_map').mkdir(); (tmp_path / 'metrics').mkdir()
    pd.DataFrame({'glon_deg': [1.0], 'glat_deg': [2.0], 'score': [4.0]}).to_csv(tmp_path / 'ts_map' / 'ts_map_detections.csv', index=False)
    (tmp_path / 'metrics' / 'ts_map.json').write_text(json.dumps({'cpu_s': 336.0}))
    det, m = load_ts_map(tmp_path)
    assert len(det) == 1 and det.score[0] == 4.0 and m['cpu_s'] == 336.0

@needs_real
def test_real_map_through_the_detection_chain(tmp_path):
    "The real 573-week map: read, cut and localised with a stand-in detector at the bright 4FGL-DR2 positions."
    counts = real_counts_maps(REAL)
    assert len(counts) == 1 and counts[0].sum() == 1988886 and counts[0].shape == (hp.nside2npix(128),)
    geom = PatchGeometry.build(REAL)
    cut = geom.cut([counts[0].astype(np.float32)])[0]
    assert cut.shape == (REAL.n_patches, REAL.finest_npix, REAL.finest_npix) and np.isfinite(cut).all() and cut.min() >= 0
    fgl = load_4fgl(profile=REAL)
    bright = fgl[fgl['Flux1000'] > 1e-9]
    heads = {}
    for pt in (0.5, REAL.localisation.prob_threshold):
        prof = load_profile('real573w', {'localisation.prob_threshold': pt})
        det, _ = detect_sources(counts, _oracle(geom, bright, prof), prof, geom)
        heads[pt] = report_headline(crossmatch_reports(det, fgl, prof, plot=False)['radius'])
    h = heads[0.5]
    # a perfect detector of the bright sources: all found at |b| > 10°; in the crowded plane neighbouring disks touch, and
    # only the 0.16° patch pixels and the deblending keep them apart (measured 0.94; 0.56 with 0.31° pixels and no deblending)
    assert h['highb_comp_1e-09'] > 0.97 and 0.85 < h['lowb_comp_1e-09'] < 0.99 and h['highb_matched'] > 0.97
    # at the profile's lower operating threshold (0.2) the soft edges of touching disks join: the same perfect maps lose
    # plane sources to merging (measured 0.815; 0.75 at 0.1) while high latitudes stay complete — the cost of a low threshold
    h = heads[REAL.localisation.prob_threshold]
    assert h['highb_comp_1e-09'] > 0.97 and 0.6 < h['lowb_comp_1e-09'] < heads[0.5]['lowb_comp_1e-09']
    paths = write_catalog(det, tmp_path, REAL, {'data_files': {REAL.real_data.counts_map: None}}, name='dl_test')
    assert len(read_catalog(paths['fits'])) == len(det)

@needs_real
def test_real_counts_map_must_match_the_profile_nside():
    with pytest.raises(ValueError, match='nside'): real_counts_maps(load_profile('real573w', {'nside': [64]}))

@needs_real
def test_load_classical_computes_without_run_output(tmp_path):
    det, src = load_classical(tmp_path, REAL)
    assert src.startswith('computed') and 900 < len(det) < 1200 and {'glon_deg', 'glat_deg', 'score'} <= set(det.columns)


@needs_real
def test_expected_ts_of_4fgl_and_the_statistical_limit():
    from fermi_nb.realsky import expected_ts_4fgl, limit_table, localisation_ceiling
    ts = expected_ts_4fgl(REAL)
    fgl = load_4fgl(profile=REAL)
    assert len(ts) == len(fgl) and (ts.Source_Name.to_numpy() == fgl.Source_Name.to_numpy()).all()
    assert np.isfinite(ts.expected_ts).all() and (ts.expected_ts >= 0).all()
    # brighter sources are more significant; a 2-20 GeV PSF3 map sees almost every bright high-latitude source
    # (measured: 0.984) but only about half of the bright ones in the Galactic plane (0.502), where the diffuse is strong
    bright = ts.Flux1000 > 1e-9
    assert np.median(ts.expected_ts[bright]) > 10 * np.median(ts.expected_ts[~bright])
    # the 75 extended sources carry their size: one wider than 0.5 deg spreads its photons over many PSF areas of
    # diffuse, so its TS per count falls well below a bright plane point source's (measured 0.22 against 0.84; as points 2.3)
    assert (ts.ext_sigma_deg > 0).sum() == 75 and ts.ext_sigma_deg.max() > 1.5
    ts_per_count = ts.expected_ts / ts.counts
    plane_points = (ts.ext_sigma_deg == 0) & (ts.glat_deg.abs() < 10) & (ts.counts > 100)
    assert np.median(ts_per_count[ts.ext_sigma_deg > 0.5]) < 0.5 * np.median(ts_per_count[plane_points])
    lim = limit_table(ts, REAL, ts_min=(25.0,)).iloc[0]
    assert lim['highb_comp_1e-09'] > 0.95 and 0.35 < lim['lowb_comp_1e-09'] < 0.7 and lim['lowb_comp_3e-10'] < lim['lowb_comp_1e-09']
    # a perfect detector of the 5-sigma sources cannot beat the statistical limit by much (it only gains chance matches)
    with pytest.raises(ValueError, match='expected_ts'):
        localisation_ceiling(fgl, REAL, min_expected_ts=25)
    ceil = report_headline(localisation_ceiling(fgl.assign(expected_ts=ts.expected_ts.to_numpy()), REAL, min_expected_ts=25)['radius'])
    assert ceil['highb_comp_1e-09'] <= lim['highb_comp_1e-09'] + 0.02 and ceil['highb_matched'] > 0.95

def test_goals_and_columns_follow_the_profile_cuts():
    from fermi_nb.realsky import headline_goals
    assert list(GOALS_DL) == ['highb_comp_1e-09', 'highb_comp_3e-10', 'highb_matched', 'lowb_comp_1e-09', 'lowb_comp_3e-10', 'lowb_matched']
    assert GOALS_DL == REAL.real_data.dl_goals and GOALS_DL['highb_comp_1e-09'] == 0.95 and CLASSICAL_ISSUE['lowb_matched'] == 0.84
    assert headline_goals(GOALS_DL, REAL.real_data.completeness_flux_ph_cm2_s) == GOALS_DL
    assert headline_goals(GOALS_DL, [1e-9, 1e-10]) == {'highb_comp_1e-09': 0.95, 'highb_matched': 0.92,   # a cut without a goal has none
                                                        'lowb_comp_1e-09': 0.60, 'lowb_matched': 0.85}
    assert headline_goals(load_profile('matched').real_data.dl_goals, [1e-10]) == {}   # a derived profile sets no goals
    assert goal_check({'highb_matched': 0.5}, {}).empty
    with pytest.raises(ProfileError, match='dl_goals'):
        load_profile('real573w', {'real_data.dl_goals': {'highb_matched': 1.5}})
    assert headline_columns([2e-9]) == ['highb_comp_2e-09', 'highb_matched', 'lowb_comp_2e-09', 'lowb_matched', 'highb_n_det', 'lowb_n_det']

def test_real_counts_maps_reads_one_map_per_energy_group(tmp_path):
    "A derived profile of several energy groups reads its (n_bins, npix) counts file as one map per bin; a wrong shape is refused."
    counts = np.random.default_rng(0).poisson(3.0, (2, hp.nside2npix(64))).astype(float)
    np.save(tmp_path / 'c.npy', counts)
    prof = load_profile('matched', {'energy_bins_gev': [[10.0, 50.0], [50.0, 2000.0]], 'nside': [64, 64], 'patches.npix': [32, 32],
                                    'real_data.counts_map': str(tmp_path / 'c.npy')})
    maps = real_counts_maps(prof)
    assert len(maps) == 2 and np.array_equal(maps[1], counts[1])
    np.save(tmp_path / 'c.npy', counts[0])
    with pytest.raises(ValueError, match=r'expected \(2, 49152\)'): real_counts_maps(prof)

def test_real_exposure_and_mask_are_checked_against_the_counts(tmp_path):
    "The real map's exposure and source mask are read through the manifest's checks: the counts' pixels, a positive exposure."
    from fermi_nb.data import DataError, real_exposure_map, real_source_mask
    npix = hp.nside2npix(64)
    np.save(tmp_path / 'e.npy', np.full(npix, 3e11)); np.save(tmp_path / 'm.npy', np.arange(npix) % 7 == 0)
    prof = load_profile('matched', {'real_data.exposure_map': str(tmp_path / 'e.npy'), 'real_data.source_mask': str(tmp_path / 'm.npy')})
    assert real_exposure_map(prof, npix).dtype == float and real_exposure_map(prof, npix)[5] == 3e11
    mask = real_source_mask(prof, npix)
    assert mask.dtype == bool and mask.sum() == len(range(0, npix, 7))
    assert real_source_mask(load_profile('matched', {'real_data.source_mask': None}), npix) is None
    with pytest.raises(DataError, match=r"e\.npy: has 49152 pixels, expected 12288"): real_exposure_map(prof, hp.nside2npix(32))
    bad = np.full(npix, 3e11); bad[10] = 0.0; np.save(tmp_path / 'e.npy', bad)
    with pytest.raises(DataError, match=r"e\.npy: 1 pixel\(s\) are ≤ 0"): real_exposure_map(prof, npix)
