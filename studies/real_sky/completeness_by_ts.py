"""Completeness per expected TS: the real map against the run's simulated test sky, through both noise paths (issue 8).

For a finished real573w run: the fraction of sources with a detection within the profile's match radius, per |b|
band and per bin of expected (Asimov) TS — the 4FGL-DR2 sources on the real map (TS from `realsky.expected_ts_4fgl`)
and the true sources of the run's first simulated test sky, detected (a) through the HEALPix path (Poisson per map
pixel, then cut: what the real map goes through) with the run's MIUN and (b) through the run's own localisation
stage (its `patches.noise` path). Equal columns at equal TS mean the detector sees real and simulated sources alike.

Usage: FERMI_NB_DATA=... python studies/real_sky/completeness_by_ts.py RUN_DIR [OUT_JSON]
"""
import json, sys
from pathlib import Path
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree
from fermi_nb.config import atomic_write_text
from fermi_nb.runner import run_profile
from fermi_nb.realsky import expected_ts_4fgl, detect_sources, simulated_test_counts
from fermi_nb.miun import load_miun
from fermi_nb.geometry import lonlat_to_unit, angular_sep_deg

TS_BINS = ((4, 9), (9, 16), (16, 25), (25, 50), (50, 100), (100, np.inf))
DRAW_SEED = 0   # Poisson draw of the HEALPix-path test sky


def nearest_sep_deg(glon_deg, glat_deg, det: pd.DataFrame) -> np.ndarray:
    "Distance from every position to its nearest detection [deg]."
    tree = cKDTree(lonlat_to_unit(det['glon_deg'].to_numpy(), det['glat_deg'].to_numpy()))
    _, j = tree.query(lonlat_to_unit(np.asarray(glon_deg, float), np.asarray(glat_deg, float)))
    return angular_sep_deg(glon_deg, glat_deg, det['glon_deg'].to_numpy()[j], det['glat_deg'].to_numpy()[j])


def main(run, out=None):
    run = Path(run); p = run_profile(run / 'profile.yaml'); rd = p.real_data
    fgl = expected_ts_4fgl(p)
    sim, truth, counts = simulated_test_counts(run, p, DRAW_SEED)
    sim_hp, _ = detect_sources(counts, load_miun(run / 'miun', p), p)
    sim_run = pd.read_csv(run / 'localisation' / 'test' / f'sky_{sim.seed:05d}_detections.csv')
    real = pd.read_csv(run / 'real_sky' / 'detections.csv')
    cases = {'real map vs 4FGL-DR2': (fgl, real), 'sim, HEALPix path': (truth, sim_hp),
             f'sim, run localisation ({p.patches.noise} noise)': (truth, sim_run)}
    rows = []
    for name, (ref, det) in cases.items():
        sep = nearest_sep_deg(ref['glon_deg'], ref['glat_deg'], det)
        ts = ref['expected_ts'].to_numpy(); ab = np.abs(ref['glat_deg'].to_numpy())
        for band, sel in ((f'|b|>{rd.lat_split_deg:g}', ab >= rd.lat_split_deg), (f'|b|<{rd.lat_split_deg:g}', ab < rd.lat_split_deg)):
            for lo, hi in TS_BINS:
                m = sel & (ts >= lo) & (ts < hi)
                rows.append(dict(case=name, band=band, ts=f'{lo:g}-{hi:g}', n=int(m.sum()),
                                 completeness=round(float(np.mean(sep[m] < rd.crossmatch_radius_deg)), 4) if m.any() else None))
    tab = pd.DataFrame(rows)
    print(tab.pivot_table(index=['band', 'ts'], columns='case', values='completeness', sort=False).round(3).to_string())
    res = {'run': str(run), 'noise': p.patches.noise, 'prob_threshold': p.localisation.prob_threshold,
           'n_det': {k: len(d) for k, (_, d) in cases.items()}, 'rows': rows}
    atomic_write_text(out or Path(__file__).resolve().parent / 'results' / f'completeness_by_ts_{run.name}.json', json.dumps(res, indent=1))


if __name__ == '__main__':
    main(*sys.argv[1:3])
