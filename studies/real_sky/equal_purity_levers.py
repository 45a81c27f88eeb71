"""Can the DL catalogue's completeness at equal matched fraction be raised without retraining?

Two levers on a finished real573w run, both read against 4FGL-DR2 next to the run's TS map:
  1. the score the list is cut by: P_Real (the default), the detector's disk score, its peak probability, the Li & Ma
     aperture significance (Signif_Aperture) and two combinations;
  2. the operating point: the run's saved real-sky probability maps localised again at lower probability thresholds
     (more, fainter candidates), characterised with the run's networks, then cut by P_Real.

Usage: FERMI_NB_DATA=... python studies/real_sky/equal_purity_levers.py RUN [TS_MAP_CSV] [OUT_JSON]
(TS_MAP_CSV: the TS-map detections on the same map, default RUN/ts_map/ts_map_detections.csv)"""
import sys, json
from pathlib import Path
import numpy as np
import pandas as pd
from fermi_nb.config import load_profile, atomic_write_text
from fermi_nb.catalog import load_4fgl, characterisation_model_dir
from fermi_nb.baseline import purity_scan, completeness_at_matched_fraction
from fermi_nb.classical import aperture_significance
from fermi_nb.localisation import localise
from fermi_nb.localisation_files import load_prob_maps, with_prob_threshold, run_localisation_profile
from fermi_nb.patching import PatchGeometry
from fermi_nb.data import real_counts_maps
from fermi_nb.realsky import characterise_counts

LEVELS = (0.90, 0.95, 0.98)
THRESHOLDS = (0.2, 0.1, 0.05, 0.03)   # lower than the rule's usual choice: more candidates for the score to rank

def with_scores(det, counts):
    "The detections with the Li & Ma aperture significance on `counts` and the combined ranking scores added."
    det = det.assign(signif_aperture=aperture_significance(counts, det.glon_deg.to_numpy(), det.glat_deg.to_numpy()))
    return det.assign(p_real_x_score=det.p_real * det.score,
                      rank_p_real_signif=det.p_real.rank() + det.signif_aperture.rank(),
                      rank_peak_signif=det.peak_prob.rank() + det.signif_aperture.rank())

def cells(det, score, fgl, rd):
    "Completeness at each matched fraction per band and flux cut, keyed 'highb F>3e-10 P0.95'."
    t = completeness_at_matched_fraction(purity_scan(det, fgl, rd.crossmatch_radius_deg, score, rd.lat_split_deg,
                                                     rd.completeness_flux_ph_cm2_s), LEVELS)
    side = np.where(t.band.str.contains('>'), 'highb', 'lowb')
    return {f"{s} F>{f:.0e} P{l:g}": (None if np.isnan(c) else round(float(c), 4))
            for s, f, l, c in zip(side, t.flux_min, t.level, t.completeness)}

def main(run, ts_csv=None, out=None):
    run = Path(run); prof = run_localisation_profile(load_profile(run / 'profile.yaml'), run); rd = prof.real_data
    fgl, counts = load_4fgl(profile=prof), real_counts_maps(prof)
    ts = pd.read_csv(ts_csv or run / 'ts_map' / 'ts_map_detections.csv')
    det = with_scores(pd.read_csv(run / 'real_sky' / 'detections.csv'), np.sum(counts, axis=0))
    res = {'run': run.name, 'operating_point': prof.localisation.prob_threshold, 'levels': LEVELS,
           'ts_map': {'n_det': len(ts), 'cells': cells(ts, 'score', fgl, rd)}, 'scores': {}, 'thresholds': {}}
    for score in ('p_real', 'score', 'peak_prob', 'signif_aperture', 'p_real_x_score', 'rank_p_real_signif'):
        res['scores'][score] = {'n_det': len(det), 'cells': cells(det, score, fgl, rd)}
    prob, pids = load_prob_maps(run / 'real_sky' / 'prob.npz')
    geom = PatchGeometry.build(prof)
    for t in THRESHOLDS:
        p = with_prob_threshold(prof, t)
        d = characterise_counts(localise(prob, geom, p, patch_ids=pids).reset_index(drop=True), counts, characterisation_model_dir(run), p)
        res['thresholds'][f'{t:g}'] = {'n_det': len(d), 'cells': cells(d, 'p_real', fgl, rd)}
        print(f"prob_threshold {t:g}: {len(d)} detections", flush=True)
    rows = {'TS map (sqrt TS)': res['ts_map']['cells'],
            **{f"DL by {k} (operating point {res['operating_point']:g})": v['cells'] for k, v in res['scores'].items()},
            **{f"DL at prob {k}, by p_real": v['cells'] for k, v in res['thresholds'].items()}}
    table = pd.DataFrame.from_dict(rows, orient='index')
    print(table[[c for c in table.columns if 'P0.95' in c]].to_string())
    if out: atomic_write_text(out, json.dumps(res, indent=1))
    return res

if __name__ == '__main__':
    main(*sys.argv[1:4])
