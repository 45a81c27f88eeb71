"""The real573w operating point (issue 8): test-time augmentation and the probability threshold, chosen on simulation.

For a finished real573w run: predicts the probability maps of the run's simulated test sky (HEALPix Poisson sample,
the real-map path of 52_real_sky) and of the real map, once with the MIUN alone and once averaged over the 8
rotations/reflections of every patch (`predict_patches(n_symmetries=8)`), and localises both at
every `localisation.prob_threshold` of the profile's `localisation.threshold_grid` (threshold_start 4). Per threshold it records

* on the simulated sky (true sources as the reference, 0.5° rule): completeness per |b| band and Flux1000, the
  matched fraction and the **chance-corrected purity** (matched − chance) / (1 − chance), chance = the matched
  fraction of the detections moved 1° along random position angles (`fermi_nb.operating_point.band_purity`, three
  draws, as the evaluation's chance purity): the selection criterion — the lowest threshold keeping it
  ≥ `localisation.threshold_min_purity` in both bands. The pipeline applies the same rule to each run's validation
  skies (`localisation.threshold_rule: validation`, 34_operating_point); this script shows it on the test sky, next to
  the real map;
* on the real map, the cross-match with 4FGL-DR2 (reported, not used for the choice).

Usage: FERMI_NB_DATA=... python studies/real_sky/operating_point.py RUN_DIR [OUT_JSON]
"""
import json, sys, time
from pathlib import Path
import numpy as np
from fermi_nb.config import load_profile, atomic_write_text
from fermi_nb.patching import PatchGeometry
from fermi_nb.localisation import localise
from fermi_nb.operating_point import band_purity
from fermi_nb.catalog import load_4fgl, crossmatch_report, report_headline
from fermi_nb.data import real_counts_maps
from fermi_nb.realsky import GOALS_DL, goal_check, simulated_test_counts
from fermi_nb.miun import load_miun, predict_patches



def headline(det, ref, rd):
    return report_headline(crossmatch_report(det, ref, rd.crossmatch_radius_deg, rd.lat_split_deg,
                                             rd.completeness_flux_ph_cm2_s, plot=False))


def chance_corrected(det, ref, profile):
    "Chance-corrected purity per |b| band: the package's rule (fermi_nb.operating_point.band_purity), which the runs' validation-sky choice uses."
    bp = band_purity([det], [ref], profile)   # chance level: 1° shifts, three draws (band_purity's defaults)
    return {f'{band}_purity_chance_corrected': round(bp[band]['purity_cc'], 4) for band in ('highb', 'lowb')}


def threshold_row(prob: dict, geom, profile_yaml, pt: float, truth, fgl, rd) -> dict:
    "Localise the 'sim' and 'real' probability maps at prob_threshold pt (start 4) and score them: the row of the tables."
    pp = load_profile(str(profile_yaml), {'localisation.prob_threshold': pt, 'localisation.threshold_start': 4.0})
    det = {k: localise(v, geom, pp, patch_ids=np.arange(geom.n_patches)) for k, v in prob.items()}
    hs, hr = headline(det['sim'], truth, rd), headline(det['real'], fgl, rd)
    return {'prob_threshold': pt,
            'sim': {'n_det': len(det['sim']), **{k: round(hs[k], 4) for k in GOALS_DL}, **chance_corrected(det['sim'], truth, pp)},
            'real': {'n_det': len(det['real']), **{k: round(hr[k], 4) for k in GOALS_DL}, 'goals_met': int(goal_check(hr)['met'].sum())}}


def lowest_passing(rows: list, min_purity: float):
    "The rule: the lowest threshold whose simulated chance-corrected purity is >= min_purity in both bands (None if none)."
    ok = [r['prob_threshold'] for r in rows
          if min(r['sim']['highb_purity_chance_corrected'], r['sim']['lowb_purity_chance_corrected']) >= min_purity]
    return min(ok) if ok else None


def main(run_dir, out):
    run_dir = Path(run_dir); t0 = time.time()
    p = load_profile(str(run_dir / 'profile.yaml')); rd = p.real_data; geom = PatchGeometry.build(p)
    model = load_miun(run_dir / 'miun' / 'model.keras')
    sim_test = simulated_test_counts(run_dir, p, seed=0)
    if sim_test is None: raise FileNotFoundError(f"run '{run_dir}' has no simulated test sky (simulate/test/sky_*)")
    sim, truth, sim_counts = sim_test
    maps = {'sim': sim_counts, 'real': real_counts_maps(p)}
    fgl = load_4fgl(profile=p); rows = []
    for n_sym in (1, 8):
        prob = {k: predict_patches(model, geom.cut([np.asarray(m, np.float32) for m in v]), 64, n_sym) for k, v in maps.items()}
        for pt in sorted(p.localisation.threshold_grid, reverse=True):
            row = {'tta_symmetries': n_sym, **threshold_row(prob, geom, run_dir / 'profile.yaml', pt, truth, fgl, rd)}
            print(row, flush=True); rows.append(row)
    min_purity = p.localisation.threshold_min_purity
    chosen = {str(n): lowest_passing([r for r in rows if r['tta_symmetries'] == n], min_purity) for n in (1, 8)}
    res = {'run_dir': str(run_dir), 'sim_sky_seed': int(sim.seed), 'criterion': f'lowest prob_threshold of {p.localisation.threshold_grid} with '
           f'chance-corrected purity >= {min_purity} in both |b| bands on the simulated test sky', 'chosen': chosen,
           'rows': rows, 'seconds': round(time.time() - t0, 1)}
    atomic_write_text(out, json.dumps(res, indent=1))
    print('chosen prob_threshold per tta_symmetries:', chosen)


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else Path(__file__).resolve().parent / 'results' / 'real573w_operating_point.json')
