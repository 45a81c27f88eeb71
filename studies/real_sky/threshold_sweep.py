"""Localisation thresholds on the real sky (issue 8): does a lower threshold reach the plane goals?

Re-localises the real-sky probability maps of a finished real573w run (RUN/real_sky/prob.npz, written by 52_real_sky)
with a grid of `localisation.prob_threshold` and `localisation.threshold_start`, and cross-matches each detection list
with 4FGL-DR2 at the profile's radius (0.5°). The maps are stored as float16 (exact at the run's own prob_threshold),
so other thresholds are resolved to float16 precision — far finer than the grid. Positions are the localisation's
(not refined by the characterisation), as in the run's ceiling and limit rows.

Usage: FERMI_NB_DATA=... python studies/real_sky/threshold_sweep.py RUN_DIR [OUT_JSON]
"""
import json, sys, time
from pathlib import Path
from fermi_nb.config import load_profile, atomic_write_text
from fermi_nb.patching import PatchGeometry
from fermi_nb.localisation import localise
from fermi_nb.localisation_files import load_prob_maps
from fermi_nb.catalog import load_4fgl, crossmatch_report, report_headline
from fermi_nb.realsky import goal_check, GOALS_DL


def main(run_dir, out):
    run_dir = Path(run_dir); t0 = time.time()
    base = load_profile(str(run_dir / 'profile.yaml'))
    prob, patch_id = load_prob_maps(run_dir / 'real_sky' / 'prob.npz')
    geom = PatchGeometry.build(base); fgl = load_4fgl(profile=base); rd = base.real_data
    rows = []
    for pt in (0.5, 0.4, 0.3):
        for ts in (base.localisation.threshold_start, base.localisation.threshold_start - 2):
            p = load_profile(str(run_dir / 'profile.yaml'), {'localisation.prob_threshold': pt, 'localisation.threshold_start': ts})
            det = localise(prob, geom, p, patch_ids=patch_id)
            head = report_headline(crossmatch_report(det, fgl, rd.crossmatch_radius_deg, rd.lat_split_deg,
                                                     rd.completeness_flux_ph_cm2_s, plot=False))
            row = {'prob_threshold': pt, 'threshold_start': ts, 'n_det': len(det), **{k: round(head[k], 4) for k in GOALS_DL},
                   'goals_met': int(goal_check(head)['met'].sum())}
            print(row, flush=True); rows.append(row)
    res = {'run_dir': str(run_dir), 'radius_deg': rd.crossmatch_radius_deg, 'rows': rows, 'seconds': round(time.time() - t0, 1)}
    atomic_write_text(out, json.dumps(res, indent=1))


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else Path(__file__).resolve().parent / 'results' / 'real573w_threshold_sweep.json')
