"""Collect the characterisation metrics of the same quick run characterised by successive versions of 40/41.

Each RUN_DIR is a copy of one quick pipeline run (same skies, MIUN, detections) whose source_images/characterisation
stages were re-run with one version of the code; this script puts their headline numbers side by side.

Usage: python studies/characterisation/characterisation_before_after.py NAME=RUN_DIR [NAME=RUN_DIR ...] [--out studies/characterisation/results/x.json]
"""
import json, sys
from pathlib import Path

KEYS = ['auc_real', 'threshold_real', 'purity_before', 'purity_after', 'completeness_before', 'completeness_after',
        'completeness_drop_points', 'group_balanced_accuracy', 'class_balanced_accuracy', 'flux_median_abs_dex_ts25',
        'flux_cov68_ts25', 'loc_median_offset_raw_deg', 'loc_median_offset_refined_deg', 'loc_cov68', 'loc_cov95']

def collect(run_dir):
    m = json.loads((Path(run_dir) / 'metrics' / 'characterisation.json').read_text())
    m['completeness_drop_points'] = 100 * (m['completeness_before'] - m['completeness_after'])
    return {k: m.get(k) for k in KEYS}

if __name__ == '__main__':
    args = sys.argv[1:]; out = 'studies/characterisation/results/characterisation_quick_before_after.json'
    if '--out' in args: i = args.index('--out'); out = args[i + 1]; args = args[:i] + args[i + 2:]
    res = {name: dict(run_dir=d, **collect(d)) for name, d in (a.split('=', 1) for a in args)}
    Path(out).parent.mkdir(parents=True, exist_ok=True); Path(out).write_text(json.dumps(res, indent=1))
    for name, r in res.items(): print(name, {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items() if k != 'run_dir'})
