"""Collect the 3FHL acceptance run's numbers into studies/fhl_matched/results/: the DL catalogue, the likelihood TS map and
the classical search cross-matched with 3FHL (radius rule, per |b| band and 3FHL flux cut), completeness at equal matched
fraction, and the statistical limit of the map (fraction of 3FHL sources whose expected TS reaches 25 / 9 in the
derived profile's model sky). Usage: python studies/fhl_matched/collect.py RUN_DIR [RESULTS_DIR]"""
import sys, json, shutil
from pathlib import Path
import pandas as pd
from fermi_nb.config import load_profile
from fermi_nb.catalog import load_4fgl, crossmatch_report, report_headline
from fermi_nb.baseline import equal_purity_table
from fermi_nb.realsky import expected_ts_4fgl, limit_table, load_classical

CURVE_LEVELS = (0.6, 0.7, 0.8, 0.9, 0.95, 0.98)   # matched fractions of equal_purity_curve.csv

def main(run_dir, res):
    run_dir, res = Path(run_dir), Path(res); res.mkdir(parents=True, exist_ok=True)
    profile = load_profile(run_dir / 'profile.yaml'); rd = profile.real_data
    ref = load_4fgl(profile=profile)
    if not (run_dir / 'ts_map' / 'ts_map_detections.csv').is_file():   # the stage's demo check failed at this geometry: the stage function itself
        from fermi_nb.tsmap import run_ts_map
        from fermi_nb.patching import PatchGeometry
        print(run_ts_map(run_dir, profile, PatchGeometry.build(profile), min_sqrt_ts=3.0, min_distance_px=2, chunk_patches=32))
    cats = {'DL (matched detector)': pd.read_csv(run_dir / 'real_sky' / 'detections.csv'),
            'TS map (likelihood)': pd.read_csv(run_dir / 'ts_map' / 'ts_map_detections.csv'),
            'classical (aperture)': load_classical(run_dir, profile)[0]}   # 51_classical's output, else computed on the map
    rows = {}
    for name, det in cats.items():
        rep = crossmatch_report(det, ref, rd.crossmatch_radius_deg, rd.lat_split_deg, rd.completeness_flux_ph_cm2_s, plot=False)
        rows[name] = {'n_det': len(det), **report_headline(rep)}
    ts = expected_ts_4fgl(profile)
    ts.to_csv(res / 'expected_ts_3fhl.csv', index=False)
    for name, r in limit_table(ts, profile).iterrows(): rows[name] = r.to_dict()
    table = pd.DataFrame.from_dict(rows, orient='index').rename_axis('catalogue').reset_index()
    table.to_csv(res / 'crossmatch.csv', index=False)
    ep, _ = equal_purity_table({n.split(' (')[0]: d for n, d in cats.items()}, ref, profile)   # each ranked by its own score
    ep.to_csv(res / 'equal_purity.csv', index=False)
    curve, _ = equal_purity_table({n.split(' (')[0]: d for n, d in cats.items()}, ref, profile, levels=CURVE_LEVELS)
    curve.to_csv(res / 'equal_purity_curve.csv', index=False)   # the whole range of matched fractions, for the plane
    shutil.copy(run_dir / 'inputs' / 'derivation.json', res / 'derivation.json')
    (res / 'matched_profile.yaml').write_text((run_dir / 'matched_profile.yaml').read_text().replace(str(run_dir.resolve()), 'RUN'))
    metrics = json.loads((run_dir / 'metrics.json').read_text())
    keep = {s: metrics[s] for s in ('simulate', 'miun', 'localisation', 'evaluation', 'classical', 'ts_map', 'real_sky') if s in metrics}
    state = {p.stem: json.loads(p.read_text())['seconds'] for p in sorted((run_dir / 'state').glob('*.json'))}
    (res / 'run_metrics.json').write_text(json.dumps({'stage_seconds': state, **keep}, indent=1, default=str).replace(str(run_dir.resolve()), 'RUN'))
    print(table.round(3).to_string(index=False))

if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else 'studies/fhl_matched/results')
