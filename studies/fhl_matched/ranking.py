"""Diagnostic: how well does each DL score rank the real-sky list of a matched run against its reference catalogue?
Completeness at matched fraction 0.8 / 0.9 / 0.95 when the DL list is cut by P_Real, the detector's peak probability or
disk score, or the Li & Ma aperture significance; with the real/fake head's AUC on the run's simulated test detections.
Usage: python studies/fhl_matched/ranking.py RUN_DIR OUT_JSON"""
import sys, json
from pathlib import Path
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from fermi_nb.config import load_profile, atomic_write_text
from fermi_nb.catalog import load_4fgl
from fermi_nb.baseline import purity_scan, completeness_at_matched_fraction
from fermi_nb.classical import aperture_significance
from fermi_nb.data import real_counts_maps

def main(run_dir, out):
    run = Path(run_dir); prof = load_profile(run / 'profile.yaml'); rd = prof.real_data; ref = load_4fgl(profile=prof)
    det = pd.read_csv(run / 'real_sky' / 'detections.csv')
    det['signif_aperture'] = aperture_significance(np.sum(real_counts_maps(prof), axis=0), det.glon_deg.to_numpy(), det.glat_deg.to_numpy())
    sim = pd.read_csv(run / 'characterisation' / 'test_characterised.csv'); real = (sim.true_label != 'FAKE').astype(int)
    res = {'run': run.name, 'n_det': len(det), 'sim_test_auc_real_vs_fake': {}, 'completeness': {}}
    for score in ('p_real', 'peak_prob', 'score', 'signif_aperture'):
        if score in sim: res['sim_test_auc_real_vs_fake'][score] = round(float(roc_auc_score(real, sim[score])), 3)
        t = completeness_at_matched_fraction(purity_scan(det, ref, rd.crossmatch_radius_deg, score, rd.lat_split_deg,
                                                         rd.completeness_flux_ph_cm2_s), (0.8, 0.9, 0.95))
        res['completeness'][score] = {f"{'highb' if '>' in b else 'lowb'} F>{f:.0e} P{l:g}": None if np.isnan(c) else round(float(c), 3)
                                      for b, f, l, c in zip(t.band, t.flux_min, t.level, t.completeness)}
    res['n_sim_fakes'] = int((1 - real).sum())
    atomic_write_text(out, json.dumps(res, indent=1))
    print(pd.DataFrame(res['completeness']).T.to_string()); print('AUC on the simulated test detections:', res['sim_test_auc_real_vs_fake'])

if __name__ == '__main__':
    main(*sys.argv[1:3])
