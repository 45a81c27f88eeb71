"""Record a finished real573w run for the documentation: what 52_real_sky shows when no data or run are present.

Reads RUN_DIR (after `fermi-nb catalog --profile real573w --out RUN_DIR`, with the ts_map and classical stages) and
writes results/recorded_run/:
  summary.json      the command, the run's recipe and operating point, detections and CPU seconds of each catalogue
  crossmatch.csv    completeness and matched fraction against 4FGL-DR2 per |b| band (DL, TS map, classical; both rules)
  equal_purity.csv  completeness at matched fraction 0.90 / 0.95 / 0.98 per band and flux cut, with binomial errors
  purity_scans.csv  the scans behind it (thinned to at most MAX_SCAN_ROWS rows per catalogue and band)
  sky_map.csv       matched DL detections, new candidates, and 4FGL-DR2 sources above the lower flux cut that the DL misses

Usage: FERMI_NB_DATA=... python studies/real_sky/recorded_run.py RUN_DIR ["COMMAND THAT MADE THE RUN"] [OUT_DIR]
"""
import json, subprocess, sys
from pathlib import Path
import numpy as np
import pandas as pd
from fermi_nb.config import atomic_write_text
from fermi_nb.runner import run_profile
from fermi_nb.localisation_files import run_localisation_profile
from fermi_nb.config import write_csv_atomic
from fermi_nb.catalog import load_4fgl
from fermi_nb.baseline import equal_purity_table
from fermi_nb.realsky import (crossmatch_reports, headline_table, equal_purity_wide, load_classical, load_ts_map, GOALS_DL,
                              CLASSICAL_ISSUE)

OUT = Path(__file__).resolve().parent / 'results' / 'recorded_run'
MAX_SCAN_ROWS = 400


def thin(scan: pd.DataFrame) -> pd.DataFrame:
    "At most MAX_SCAN_ROWS rows of each band, evenly spread, always keeping the last (the uncut catalogue)."
    parts = []
    for _, s in scan.groupby('band', sort=False):
        keep = np.unique(np.r_[np.linspace(0, len(s) - 1, min(MAX_SCAN_ROWS, len(s))).astype(int), len(s) - 1])
        parts.append(s.iloc[keep])
    return pd.concat(parts, ignore_index=True)


def rounded(df: pd.DataFrame, digits: int = 5) -> pd.DataFrame:
    "Fractions, scores and angles to `digits` decimals; fluxes (Flux1000, flux_min) to `digits` significant digits."
    out = df.copy()
    for c in out.columns:
        if out[c].dtype.kind != 'f': continue
        out[c] = (out[c].map(lambda v: float(f'{v:.{digits}g}') if np.isfinite(v) else v) if c in ('Flux1000', 'flux_min')
                  else out[c].round(digits))
    return out


def main(run, command=None, out=None):
    out = Path(out) if out else OUT
    run = Path(run); p = run_localisation_profile(run_profile(run / 'profile.yaml'), run); rd = p.real_data
    fgl = load_4fgl(profile=p)
    dl = pd.read_csv(run / 'real_sky' / 'detections.csv')
    ts_map, ts_metrics = load_ts_map(run)
    classical, _ = load_classical(run, p)
    rs = json.loads((run / 'metrics' / 'real_sky.json').read_text())
    catalogues = {'DL': dl, **({'TS map': ts_map} if ts_map is not None else {}), 'classical': classical}
    reports = {m: crossmatch_reports(d, fgl, p, plot=False) for m, d in catalogues.items()}
    table = headline_table({f'{m} ({r})': reports[m][r] for m in reports for r in ('radius', 'error')},
                           {'goal DL (issue)': GOALS_DL, 'classical (issue)': CLASSICAL_ISSUE})
    ep, scans = equal_purity_table(catalogues, fgl, p)
    rep = reports['DL']['radius']
    det_ok = rep['det_match']['idx_ref'].to_numpy() >= 0
    missed = (rep['ref_match']['idx_ref'].to_numpy() < 0) & (fgl['Flux1000'].to_numpy(float) > min(rd.completeness_flux_ph_cm2_s))
    sky = pd.concat([pd.DataFrame({'kind': np.where(det_ok, 'matched', 'new candidate'), 'glon_deg': dl['glon_deg'], 'glat_deg': dl['glat_deg'],
                                   'score': dl['p_real'] if 'p_real' in dl else dl['score'], 'Flux1000': np.nan}),
                     pd.DataFrame({'kind': '4FGL-DR2 missed', 'glon_deg': fgl['glon_deg'][missed], 'glat_deg': fgl['glat_deg'][missed],
                                   'score': np.nan, 'Flux1000': fgl['Flux1000'][missed]})], ignore_index=True)
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parent).stdout.strip()
    t = p.training
    summary = {'command': command or f'fermi-nb catalog --profile {p.name} --out RUN', 'profile': p.name, 'code_commit': commit,
               'run_description': (f"{t.n_train_skies}/{t.n_val_skies}/{t.n_test_skies} training/validation/test skies, {t.epochs} epochs, "
                                   f"seed {t.seed}; operating point prob_threshold {p.localisation.prob_threshold} "
                                   f"({p.localisation.threshold_rule} rule), {p.localisation.tta_symmetries}-fold test-time augmentation"),
               'match_radius_deg': rd.crossmatch_radius_deg, 'lat_split_deg': rd.lat_split_deg,
               'flux_cuts_ph_cm2_s': list(rd.completeness_flux_ph_cm2_s), 'levels': sorted(set(ep['level'])),
               'catalogues': {'DL': {'n_det': len(dl), 'cpu_s': rs.get('dl_cpu_s'), 'score': 'p_real' if 'p_real' in dl else 'score'},
                              **({'TS map': {'n_det': len(ts_map), 'cpu_s': ts_metrics.get('cpu_s'), 'min_sqrt_ts': ts_metrics.get('min_sqrt_ts'),
                                             'score': 'sqrt(TS)'}} if ts_map is not None else {}),
                              'classical': {'n_det': len(classical), 'score': 'sqrt(TS) of the 0.6° aperture'}},
               'goals_met': rs.get('goals_met'), 'goals_total': rs.get('goals_total')}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / 'summary.json', json.dumps(summary, indent=1, default=float))
    write_csv_atomic(rounded(table).rename_axis('catalogue').reset_index(), out / 'crossmatch.csv')
    write_csv_atomic(rounded(ep), out / 'equal_purity.csv')
    write_csv_atomic(rounded(pd.concat([thin(s).assign(catalogue=n) for n, s in scans.items()], ignore_index=True)), out / 'purity_scans.csv')
    write_csv_atomic(rounded(sky), out / 'sky_map.csv')
    print(json.dumps(summary, indent=1, default=float))
    print(table.round(3).to_string())
    print(equal_purity_wide(ep, (0.9, 0.95, 0.98), errors=True).T.to_string())


if __name__ == '__main__':
    main(*sys.argv[1:4])
