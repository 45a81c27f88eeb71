"Evaluation: one-to-one matching edge cases and the rate tables."
import numpy as np
import pandas as pd
import pytest
from fermi_nb.evaluation import match_catalogs, completeness_purity, binned_rates, binomial_rate, evaluate

def _t(l, b, s1=None, ts=None):
    d = pd.DataFrame(dict(glon_deg=np.asarray(l, float), glat_deg=np.asarray(b, float)))
    if s1 is not None: d['s1_ph_cm2_s'] = s1
    if ts is not None: d['expected_ts'] = ts
    return d

def test_two_truths_within_radius_of_one_detection():
    truth = _t([10.0, 10.1], [0, 0], s1=[1e-10, 5e-10])
    m = match_catalogs(_t([10.02], [0]), truth, 0.3)
    assert m.truth_matched.tolist() == [False, True]          # brighter one takes it although farther
    assert (m.n_tp, m.n_fp, m.n_fn) == (1, 0, 1)

def test_one_detection_near_two_truths_and_second_detection():
    truth = _t([10.0, 10.1], [0, 0], s1=[1e-10, 5e-10])
    m = match_catalogs(_t([10.05, 10.2], [0, 0]), truth, 0.3)
    assert m.n_tp == 2 and m.n_fn == 0
    assert set(map(tuple, m.pairs[['truth_idx', 'det_idx']].values)) == {(1, 0), (0, 1)}

def test_none_within_radius_and_empty():
    truth = _t([10.0], [0], s1=[1e-10])
    m = match_catalogs(_t([10.5], [0]), truth, 0.3)
    assert (m.n_tp, m.n_fp, m.n_fn) == (0, 1, 1) and len(m.pairs) == 0
    assert match_catalogs(_t([], []), truth, 0.3).n_fn == 1
    assert match_catalogs(_t([1.0], [1.0]), _t([], [], s1=[]), 0.3).n_fp == 1

def test_radius_is_angular_at_high_latitude():
    # 1 deg of longitude at b = 85 deg is 0.087 deg on the sky
    assert match_catalogs(_t([11.0], [85.0]), _t([10.0], [85.0]), 0.3).n_tp == 1

def test_bad_input():
    with pytest.raises(ValueError, match="glat_deg"): match_catalogs(pd.DataFrame({'glon_deg': [1.0]}), _t([1], [1]), 0.3)
    with pytest.raises(ValueError, match="radius"): match_catalogs(_t([1], [1]), _t([1], [1]), 0)

def test_rates_and_errors():
    p, e = binomial_rate([3, 0, 5], [4, 0, 5])
    assert p[0] == 0.75 and np.isclose(e[0], np.sqrt(0.75 * 0.25 / 4)) and np.isnan(p[1]) and e[2] == 0
    truth = _t([10, 20, 30, 40], [1, 3, 15, 50], s1=[1e-9, 1e-10, 1e-11, 1e-9], ts=[100, 30, 4, 400])
    det = _t([10.01, 20.0, 100.0], [1, 3, 2])
    m = match_catalogs(det, truth, 0.3)
    o = completeness_purity(m).iloc[0]
    assert o.completeness == 0.5 and np.isclose(o.purity, 2 / 3)
    b = binned_rates(det, truth, m, 'abs_b', bins=[0, 5, 90])
    assert b.n_true.tolist() == [2, 2] and b.n_found.tolist() == [2, 0] and b.n_det.tolist() == [3, 0]
    s = binned_rates(det, truth, m, 'sqrt_ts', bins=[0, 5, 10, 100])
    assert s.n_true.tolist() == [1, 1, 2] and s.n_found.tolist() == [0, 1, 1] and s.purity.isna().all()
    r = evaluate(det, truth, 0.3)
    assert set(r) >= {'overall', 's1', 'abs_b', 'sqrt_ts', 'matches'}

# --- pooled evaluation of several skies and the labelled detection table (pipeline stage of 31_evaluation)
from fermi_nb.evaluation import evaluate_skies, completeness_above, matched_table, pool_counts

def test_evaluate_skies_matches_each_sky_on_its_own():
    # the detection of sky B lies on a true source of sky A: pooled per sky it must not match it
    ta = _t([10.0], [0.0], s1=[1e-9], ts=[200.0]).assign(source_id=[1])
    tb = _t([50.0], [0.0], s1=[1e-9], ts=[20.0]).assign(source_id=[2])
    da, db = _t([10.01], [0.0]), _t([10.0], [0.0])
    r = evaluate_skies([da, db], [ta, tb], 0.3)
    o = r['overall'].iloc[0]
    assert (o.n_tp, o.n_fp, o.n_fn) == (1, 1, 1)
    assert r['matches'].pairs[['truth_idx', 'det_idx']].values.tolist() == [[0, 0]]
    assert len(r['per_sky']) == 2 and r['per_sky'].n_tp.tolist() == [1, 0]
    assert completeness_above(r['truth'], r['matches'], 100) == dict(n_true=1, n_found=1, completeness=1.0, completeness_err=0.0)
    assert completeness_above(r['truth'], r['matches'], 10)['completeness'] == 0.5

def test_evaluate_skies_one_sky_equals_evaluate():
    rng = np.random.default_rng(3)
    truth = _t(rng.uniform(0, 360, 300), rng.uniform(-60, 60, 300), s1=10 ** rng.uniform(-10, -8, 300), ts=rng.uniform(0, 400, 300))
    det = truth.sample(200, random_state=1)[['glon_deg', 'glat_deg']] + 0.05
    a, b = evaluate(det, truth, 0.3), evaluate_skies([det], [truth], 0.3)
    assert a['overall'].equals(b['overall']) and a['sqrt_ts'].equals(b['sqrt_ts'])

def test_matched_table_labels():
    truth = _t([10.0, 20.0], [0.0, 5.0], s1=[1e-9, 2e-9], ts=[50.0, 80.0]).assign(source_id=[7, 9], cls=['PSR', 'BLL'])
    det = _t([20.05, 100.0], [5.0, 0.0])
    m = match_catalogs(det, truth, 0.3)
    t = matched_table(det, truth, m)
    assert t.is_true.tolist() == [True, False] and t.source_id.tolist() == [9, -1]
    assert t.true_cls.tolist() == ['BLL', ''] and t.true_s1_ph_cm2_s[0] == 2e-9 and np.isnan(t.true_s1_ph_cm2_s[1])
    assert abs(t.sep_deg[0] - 0.05 * np.cos(np.radians(5))) < 1e-3 and np.isnan(t.sep_deg[1])

def test_pool_counts_recomputes_rates():
    a = pd.DataFrame(dict(threshold=[1.0, 2.0], n_true=[10, 10], n_det=[8, 4], n_tp=[6, 4], n_fp=[2, 0], n_fn=[4, 6]))
    b = a.assign(n_true=[30, 30], n_det=[2, 0], n_tp=[2, 0], n_fp=[0, 0], n_fn=[28, 30])
    p = pool_counts([a, b])
    assert p.n_true.tolist() == [40, 40] and p.completeness.tolist() == [8 / 40, 4 / 40]
    assert p.purity[0] == 0.8 and p.purity[1] == 1.0 and p.n_det.dtype == np.int64
