"Background-model systematics (54_background_systematics): the two diffuse models, the train × test table on synthetic cases."
import os
from pathlib import Path
import numpy as np, pandas as pd, pytest, healpy as hp

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault('FERMI_NB_DATA', str(ROOT.parent / 'shared' / 'data'))
from fermi_nb.config import load_profile
from fermi_nb.data import have_data
from fermi_nb.diffuse import TEMPLATE_KEYS, CALIBRATION_KEYS
from fermi_nb.systematics import (comparison_profiles, background_comparison, case_metrics, evaluate_cases, cross_table,
                                  cross_deltas, format_cross, PatchSubset, rates_long)

MODELS = ('p6v11', 'modelO')
REAL = load_profile('real573w')
_keys = [*TEMPLATE_KEYS.values(), *CALIBRATION_KEYS.values(), REAL.instrument.psf_file, REAL.instrument.aeff_file,
         REAL.instrument.exposure_map]
needs_data = pytest.mark.skipif(not all(k and have_data(k) for k in _keys), reason='fermi_573w templates / real counts / IRFs not present')


@pytest.fixture(scope='module')
def profiles(): return comparison_profiles('real573w', MODELS)


def test_profiles_differ_only_in_the_diffuse_model(profiles):
    a, b = (profiles[m].to_dict() for m in MODELS)
    assert a['diffuse']['model'] == 'p6v11' and b['diffuse']['model'] == 'modelO'
    a['diffuse'].pop('model'); b['diffuse'].pop('model')
    assert a == b
    with pytest.raises(ValueError, match='distinct'): comparison_profiles('real573w', ('p6v11', 'p6v11'))


@needs_data
def test_backgrounds_differ_pixelwise_but_agree_in_total(profiles):
    bg = background_comparison(profiles).set_index('band')
    assert abs(bg.loc['|b|≥0', 'ratio'] - 1) < 0.10                   # fitted to the same counts
    assert (bg.rms_log_ratio > 0.1).all()                              # but > 10 % apart pixel by pixel, in every band
    assert bg.loc['0≤|b|<2', 'rms_log_ratio'] > bg.loc['|b|≥30', 'rms_log_ratio']
    assert bg.loc['0≤|b|<2', 'pix_ratio_p5'] < 0.8 and bg.loc['0≤|b|<2', 'pix_ratio_p95'] > 1.2


@needs_data
def test_simulated_skies_share_sources_not_background(profiles):
    from fermi_nb.sky import simulate_sky
    sa, sb = (simulate_sky(profiles[m], 3) for m in MODELS)
    # the same population and the same rendered source counts ...
    assert len(sa.sources) == len(sb.sources) and np.allclose(sa.sources.glon_deg, sb.sources.glon_deg)
    assert np.allclose(sa.source_counts[0], sb.source_counts[0])
    # ... on different diffuse backgrounds, whose totals (plus the sources) both reproduce the real counts within 5 %
    da, db = sa.diffuse_counts[0].astype(float), sb.diffuse_counts[0].astype(float)
    _, lat = hp.pix2ang(REAL.nside[0], np.arange(da.size), lonlat=True)
    plane = np.abs(lat) < 10
    assert np.std(np.log(db[plane] / da[plane])) > 0.2
    real = np.load(__import__('fermi_nb.data', fromlist=['data_path']).data_path(CALIBRATION_KEYS['counts'])).astype(float)
    for s in (sa, sb): assert abs(s.counts(0).sum() / real.sum() - 1) < 0.05
    # the expected TS depends on the background under the source
    assert not np.allclose(sa.sources.expected_ts, sb.sources.expected_ts)


def _truth(rng, n=300):
    "n true sources on distinct HEALPix Nside-16 pixel centres (≥ 3° apart), none within 3° of b = 0 or beyond |b| = 80°."
    lon, lat = hp.pix2ang(16, np.arange(hp.nside2npix(16)), lonlat=True)
    ok = np.flatnonzero((np.abs(lat) > 3) & (np.abs(lat) < 80))
    pix = rng.choice(ok, n, replace=False)
    return pd.DataFrame(dict(glon_deg=lon[pix], glat_deg=lat[pix], s1_ph_cm2_s=10 ** rng.uniform(-11, -8, n),
                             expected_ts=np.geomspace(1, 1e4, n)))   # TS rank ≠ brightness rank on purpose


def _case(truth, found_ts_min, n_fake_plane, n_fake_high, rng):
    "Detections exactly at the true sources with expected TS ≥ found_ts_min, plus false ones at b = 0.5 and b = 85."
    det = truth[truth.expected_ts >= found_ts_min][['glon_deg', 'glat_deg']]
    fake = pd.DataFrame(dict(glon_deg=np.r_[rng.uniform(0, 360, n_fake_plane), rng.uniform(0, 360, n_fake_high)],
                             glat_deg=np.r_[np.full(n_fake_plane, 0.5), np.full(n_fake_high, 85.0)]))
    return pd.concat([det, fake], ignore_index=True)


@pytest.fixture(scope='module')
def synthetic():
    rng = np.random.default_rng(5)
    truths = [_truth(rng) for _ in range(3)]
    spec = {('p6v11', 'p6v11'): (25, 2, 1), ('modelO', 'modelO'): (25, 2, 1),
            ('modelO', 'p6v11'): (100, 30, 0), ('p6v11', 'modelO'): (50, 10, 0)}
    dets = {case: [_case(t, *spec[case], rng) for t in truths] for case in spec}
    table = cross_table(evaluate_cases(dets, {m: truths for m in MODELS}, 0.5), lat_split_deg=10.0)
    return truths, spec, table.set_index(['train_model', 'test_model'])


def test_cross_table_counts(synthetic):
    truths, spec, t = synthetic
    truth = pd.concat(truths, ignore_index=True)
    plane_t = np.abs(truth.glat_deg) < 10
    for case, (ts_min, n_fp_plane, n_fp_high) in spec.items():
        r = t.loc[case]
        found = truth.expected_ts >= ts_min
        assert r.n_skies == 3 and r.n_true == len(truth) and r.n_tp == found.sum()
        assert r.n_fp == 3 * (n_fp_plane + n_fp_high) and r.n_fp_plane == 3 * n_fp_plane and r.n_fp_high == 3 * n_fp_high
        assert np.isclose(r.fp_per_sky_plane, n_fp_plane)
        assert np.isclose(r.completeness, found.mean()) and np.isclose(r.completeness_err, np.sqrt(found.mean() * (1 - found.mean()) / len(truth)))
        sel = truth.expected_ts >= 25
        assert r.n_true_ts25 == sel.sum() and np.isclose(r.completeness_ts25, found[sel].mean())
        assert np.isclose(r.completeness_ts100, found[truth.expected_ts >= 100].mean())
        p = found.sum() / (found.sum() + 3 * (n_fp_plane + n_fp_high))
        assert np.isclose(r.purity, p) and np.isclose(r.purity_err, np.sqrt(p * (1 - p) / r.n_det))
        tp_plane = (found & plane_t).sum()
        assert r.n_tp_plane == tp_plane and np.isclose(r.purity_plane, tp_plane / (tp_plane + 3 * n_fp_plane))
        assert np.isclose(r.completeness_ts25_plane, found[sel & plane_t].mean())
        assert np.isclose(r.completeness_ts25_high, found[sel & ~plane_t].mean())
    assert t.loc[('p6v11', 'p6v11'), 'completeness_ts25'] == 1.0 and t.loc[('p6v11', 'p6v11'), 'completeness_ts25_err'] == 0.0


def test_cross_deltas(synthetic):
    _, _, t = synthetic
    d = cross_deltas(t.reset_index()).set_index(['kind', 'model'])
    # same test skies (p6v11), detector trained on modelO minus detector trained on p6v11
    exp = t.loc[('modelO', 'p6v11'), 'completeness_ts25'] - t.loc[('p6v11', 'p6v11'), 'completeness_ts25']
    assert np.isclose(d.loc[('test', 'p6v11'), 'completeness_ts25'], exp) and exp < 0
    err = np.hypot(t.loc[('modelO', 'p6v11'), 'purity_err'], t.loc[('p6v11', 'p6v11'), 'purity_err'])
    assert np.isclose(d.loc[('test', 'p6v11'), 'purity_err'], err)
    # same detector (p6v11) on the modelO skies minus on its own
    assert np.isclose(d.loc[('train', 'p6v11'), 'fp_per_sky_plane'], 10 - 2)
    assert np.isclose(d.loc[('test', 'modelO'), 'fp_per_sky_plane'], 10 - 2)
    assert np.isclose(d.loc[('train', 'modelO'), 'fp_per_sky_plane'], 30 - 2)
    # mismatch: mean of the two 'test' rows; a uniformly better detector cancels
    mm = d.loc[('mismatch', 'both')]
    assert np.isclose(mm.fp_per_sky_plane, 0.5 * ((30 - 2) + (10 - 2)))
    assert np.isclose(mm.completeness_ts25, 0.5 * (d.loc[('test', 'p6v11'), 'completeness_ts25'] + d.loc[('test', 'modelO'), 'completeness_ts25']))
    assert np.isclose(mm.purity_err, 0.5 * np.sqrt((t.purity_err ** 2).sum()))
    assert np.isclose(t.loc[('p6v11', 'modelO'), 'fp_per_sky_plane_err'], np.sqrt(3 * 10) / 3)
    better = t.reset_index().copy(); better.loc[better.train_model == 'p6v11', 'completeness'] += 0.1
    assert np.isclose(cross_deltas(better).set_index('kind').loc['mismatch', 'completeness'], mm.completeness)
    with pytest.raises(ValueError, match='four cases'): cross_deltas(t.reset_index().iloc[:3])
    assert format_cross(t.reset_index()).purity.str.contains('±').all()


def test_case_metrics_no_detections():
    rng = np.random.default_rng(0)
    truth = _truth(rng, 50)
    ev = evaluate_cases({('a', 'b'): [truth.iloc[:0][['glon_deg', 'glat_deg']]]}, {'b': [truth]}, 0.5)[('a', 'b')]
    m = case_metrics(ev, load_profile('quick').real_data.lat_split_deg)
    assert m['n_det'] == 0 and m['completeness'] == 0 and np.isnan(m['purity']) and m['n_true'] == len(truth)
    with pytest.raises(ValueError, match="no truth tables for test model 'c'"):
        evaluate_cases({('a', 'c'): [truth]}, {'b': [truth]}, 0.5)


def test_rates_long_and_patch_subset():
    rng = np.random.default_rng(1)
    truth = _truth(rng, 80)
    evals = evaluate_cases({(a, b): [truth] for a in MODELS for b in MODELS}, {m: [truth] for m in MODELS}, 0.5)
    r = rates_long(evals, 'abs_b')
    assert len(r) == 4 * len(evals[MODELS[0], MODELS[0]]['abs_b']) and set(r.train_model) == set(MODELS)
    assert (r.groupby(['train_model', 'test_model']).n_true.sum() == len(truth)).all()

    class Store:   # minimal PatchStore stand-in
        profile = REAL
        sky_index = np.repeat(np.arange(4), 10)
        def __len__(self): return 40
        def asimov(self, idx): return [np.asarray(idx, float)[:, None, None] * np.ones((1, 2, 2))]
        def mask(self, idx): return np.asarray(idx)[:, None, None] * np.ones((1, 2, 2), np.uint8)
    sub = PatchSubset(Store(), [7, 3, 31])
    assert len(sub) == 3 and list(sub.rows) == [3, 7, 31] and list(sub.sky_index) == [0, 0, 3]
    assert np.allclose(sub.asimov(np.array([0, 2]))[0][:, 0, 0], [3, 31]) and sub.profile is REAL
