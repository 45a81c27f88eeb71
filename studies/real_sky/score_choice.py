"""Which score should rank the DL catalogue at equal purity: the characterisation network's P_Real or the detector's
peak probability? Read over several finished real573w runs (different training seeds / skies), on the real map
against 4FGL-DR2 and on each run's simulated test sky against the truth.

For every run: completeness at matched fraction >= 0.90 / 0.95 / 0.98 per |b| band and Flux1000 cut (0.5 deg rule on
the real map, the profile's match radius on the simulated sky) for the list ranked by P_Real, by peak probability,
by the Li & Ma aperture significance and by the two rank sums; the TS map of the same map beside them; and the high-latitude detections with P_Real > 0.9 and no 4FGL-DR2 counterpart
(how many, how far from the nearest 4FGL-DR2 source, their aperture significance against the matched ones).

Usage: FERMI_NB_DATA=... python studies/real_sky/score_choice.py OUT_JSON RUN [RUN ...]"""
import sys, json
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np
import pandas as pd
from fermi_nb.config import load_profile, atomic_write_text
from fermi_nb.catalog import load_4fgl, crossmatch
from fermi_nb.geometry import is_high_latitude
from fermi_nb.data import real_counts_maps
from fermi_nb.sky import Sky, sky_dir
from fermi_nb.baseline import equal_purity_on_truth
from equal_purity_levers import cells, with_scores   # completeness at matched fraction; the ranking scores

SCORES = ('p_real', 'peak_prob', 'signif_aperture', 'rank_p_real_signif', 'rank_peak_signif')

def unmatched_confident(det, fgl, rd, min_p_real=0.9):
    "The |b| > split detections with P_Real > min_p_real and no 4FGL-DR2 source within the radius, against the matched ones."
    det = det[is_high_latitude(det.glat_deg, rd.lat_split_deg) & (det.p_real > min_p_real)]
    sep = crossmatch(det, fgl, 10.0, one_to_one=False).sep_deg.to_numpy()   # nearest 4FGL-DR2 source within 10 deg
    far = sep > rd.crossmatch_radius_deg
    return {'min_p_real': min_p_real, 'n_unmatched': int(far.sum()), 'n_matched': int((~far).sum()),
            'median_sep_unmatched_deg': round(float(np.nanmedian(sep[far])), 3),
            'median_signif_unmatched': round(float(det.signif_aperture[far].median()), 3),
            'median_signif_matched': round(float(det.signif_aperture[~far].median()), 3)}

def simulated_cells(run, prof):
    "P_Real against peak probability on the run's simulated test sky, against the truth."
    det = pd.read_csv(run / 'characterisation' / 'test_characterised.csv')
    truth = Sky.load(sky_dir(run / 'simulate' / 'test', int(det.sky_seed.iloc[0]))).sources
    t = equal_purity_on_truth({s: det.assign(score=det[s]) for s in ('p_real', 'peak_prob')}, truth, prof)
    side = np.where(t.band.astype(str).str.contains('>'), 'highb', 'lowb')
    return {f"{m} {s} F>{f:.0e} P{l:g}": round(float(c), 4)
            for m, s, f, l, c in zip(t.method, side, t.flux_min, t.level, t.completeness)}

def main(out, *runs):
    res = {'runs': [], 'real_map': {}, 'simulated_test_sky': {}}
    prof0 = load_profile(Path(runs[0]) / 'profile.yaml')
    fgl, counts = load_4fgl(profile=prof0), np.sum(real_counts_maps(prof0), axis=0)
    ts = pd.read_csv(Path(runs[0]) / 'ts_map' / 'ts_map_detections.csv')
    res['ts_map'] = cells(ts, 'score', fgl, prof0.real_data)
    for run in map(Path, runs):
        prof = load_profile(run / 'profile.yaml'); res['runs'].append(run.name)
        det = with_scores(pd.read_csv(run / 'real_sky' / 'detections.csv'), counts)
        res['real_map'][run.name] = {s: cells(det, s, fgl, prof.real_data) for s in SCORES}
        res['simulated_test_sky'][run.name] = simulated_cells(run, prof)
        res.setdefault('unmatched_confident_highb', {})[run.name] = unmatched_confident(det, fgl, prof.real_data)
        print(run.name, {s: res['real_map'][run.name][s]['highb F>1e-09 P0.98'] for s in SCORES}, flush=True)
    atomic_write_text(out, json.dumps(res, indent=1))
    return res

if __name__ == '__main__':
    main(*sys.argv[1:])
