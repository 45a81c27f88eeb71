"""Does an ensemble of detectors trained with different seeds beat each of them on the real map?

For finished real573w runs that differ only in training.seed: their saved real-sky probability maps (same unrotated
patches) are averaged, localised at the mean of the runs' own operating points (each chosen on its validation skies,
never on the real map), and every candidate gets the mean P_Real of the runs' characterisation networks. Read against
4FGL-DR2 next to each single run and the TS map of the same map:
  - completeness at matched fraction >= 0.90 / 0.95 / 0.98 per |b| band and Flux1000 cut (each list cut by its score);
  - completeness of the 4FGL-DR2 sources with expected TS >= 25 (extended ones with their size) per |b| band, for the
    catalogue at its operating point, with its matched fraction.

Usage: FERMI_NB_DATA=... python studies/real_sky/seed_ensemble.py OUT_JSON RUN RUN [RUN ...]"""
import sys, json, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np
import pandas as pd
from fermi_nb.config import load_profile, atomic_write_text
from fermi_nb.catalog import load_4fgl, characterisation_model_dir
from fermi_nb.geometry import is_high_latitude
from fermi_nb.localisation import localise
from fermi_nb.localisation_files import load_prob_maps, with_prob_threshold, run_localisation_profile
from fermi_nb.patching import PatchGeometry
from fermi_nb.catalog import report_headline, crossmatch
from equal_purity_levers import cells, LEVELS   # completeness at matched fraction per band, flux cut and level
from fermi_nb.data import real_counts_maps
from fermi_nb.realsky import characterise_counts, expected_ts_4fgl, crossmatch_reports

MIN_EXPECTED_TS = 25.0

def bright_completeness(det, fgl_ts, rd):
    "Fraction of the expected-TS >= 25 4FGL-DR2 sources with a detection within the association radius, per |b| band."
    bright = fgl_ts[fgl_ts.expected_ts >= MIN_EXPECTED_TS].reset_index(drop=True)
    found = crossmatch(bright, det, rd.crossmatch_radius_deg, one_to_one=False)['idx_ref'].to_numpy() >= 0
    high = is_high_latitude(bright.glat_deg, rd.lat_split_deg)
    return {'|b|>10': round(float(found[high].mean()), 4), '|b|<10': round(float(found[~high].mean()), 4),
            'n': {'|b|>10': int(high.sum()), '|b|<10': int((~high).sum())}}

def summary(det, score, fgl, fgl_ts, prof):
    rd = prof.real_data
    head = report_headline(crossmatch_reports(det, fgl, prof, plot=False)['radius'])
    return {'n_det': len(det), 'cells': cells(det, score, fgl, rd), 'bright_ts25': bright_completeness(det, fgl_ts, rd),
            'matched': {'|b|>10': round(float(head['highb_matched']), 4), '|b|<10': round(float(head['lowb_matched']), 4)}}

def main(out, *runs):
    runs = [Path(r) for r in runs]
    profs = [run_localisation_profile(load_profile(r / 'profile.yaml'), r) for r in runs]
    prof = profs[0]; rd = prof.real_data
    fgl, counts = load_4fgl(profile=prof), real_counts_maps(prof)
    fgl_ts = fgl.assign(expected_ts=expected_ts_4fgl(prof)['expected_ts'].to_numpy())
    res = {'runs': [r.name for r in runs], 'seeds': [p.training.seed for p in profs],
           'operating_points': [p.localisation.prob_threshold for p in profs], 'levels': LEVELS, 'single': {}}
    ts = pd.read_csv(runs[0] / 'ts_map' / 'ts_map_detections.csv')
    res['ts_map'] = summary(ts, 'score', fgl, fgl_ts, prof)
    probs = []
    for r in runs:
        prob, pids = load_prob_maps(r / 'real_sky' / 'prob.npz')
        if probs and not np.array_equal(pids, pid0): raise ValueError(f"{r}: its real-sky probability maps cover other patches than {runs[0]}'s")
        probs.append(prob); pid0 = pids
        res['single'][r.name] = summary(pd.read_csv(r / 'real_sky' / 'detections.csv'), 'p_real', fgl, fgl_ts, prof)
    threshold = float(np.mean(res['operating_points']))
    p_ens = with_prob_threshold(prof, threshold)
    t0 = time.time()
    det = localise(np.mean(probs, axis=0), PatchGeometry.build(p_ens), p_ens, patch_ids=pid0).reset_index(drop=True)
    p_real = [characterise_counts(det, counts, characterisation_model_dir(r), p_ens)['p_real'].to_numpy() for r in runs]
    det['p_real'] = np.mean(p_real, axis=0)
    res['ensemble'] = {'prob_threshold': threshold, 'seconds': round(time.time() - t0, 1),
                       'by p_real': summary(det, 'p_real', fgl, fgl_ts, p_ens),
                       'by peak_prob': summary(det, 'peak_prob', fgl, fgl_ts, p_ens)}
    rows = {'TS map (sqrt TS)': res['ts_map'], **{f'DL {k}': v for k, v in res['single'].items()},
            'DL ensemble, by mean P_Real': res['ensemble']['by p_real'], 'DL ensemble, by peak prob': res['ensemble']['by peak_prob']}
    table = pd.DataFrame({k: {**{c: v['cells'][c] for c in v['cells'] if 'P0.95' in c or 'P0.98' in c},
                              'TS>=25 |b|>10': v['bright_ts25']['|b|>10'], 'TS>=25 |b|<10': v['bright_ts25']['|b|<10'],
                              'n_det': v['n_det']} for k, v in rows.items()}).T
    print(table.to_string())
    atomic_write_text(out, json.dumps(res, indent=1))
    return res

if __name__ == '__main__':
    main(*sys.argv[1:])
