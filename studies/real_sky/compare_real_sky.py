"""real573w runs side by side on the real map: the equal-purity cells (DL, TS map, classical) and the radius-rule
headline of each run's real_sky stage, with the DL's margin over the TS map at every cell; with three or more runs also
the mean and the sample standard deviation over the runs of the DL's completeness and of its margin.
Usage: python studies/real_sky/compare_real_sky.py LABEL=RUN LABEL=RUN [LABEL=RUN ...] OUT_JSON"""
import sys, json
from pathlib import Path
import numpy as np
from fermi_nb.config import atomic_write_text

def cells(m: dict, pre: str) -> dict:
    "The run's equal-purity completeness of one catalogue, keyed 'highb_1e-09_p0.95'."
    return {k[len(f'ep_{pre}_'):]: round(v, 4) for k, v in m.items()
            if k.startswith(f'ep_{pre}_') and not k.endswith('_err') and v is not None}

def spread(res: dict, key: str) -> dict:
    "Mean and sample standard deviation over the runs of one per-cell quantity (cells every run has)."
    per_run = [r[key] if key == 'dl_minus_ts_map' else r['equal_purity']['DL'] for r in res.values()]
    common = [k for k in per_run[0] if all(k in r for r in per_run)]
    return {k: {'mean': round(float(np.mean([r[k] for r in per_run])), 4), 'std': round(float(np.std([r[k] for r in per_run], ddof=1)), 4)}
            for k in common}

def main(*args):
    *specs, out = args
    if len(specs) < 2: raise SystemExit("compare_real_sky.py: give at least two LABEL=RUN and an OUT_JSON")
    res = {}
    for spec in specs:
        label, run = spec.split('=', 1)
        m = json.loads((Path(run) / 'metrics' / 'real_sky.json').read_text())
        dl, ts, cl = cells(m, 'dl'), cells(m, 'ts_map'), cells(m, 'classical')
        res[label] = {'run': Path(run).name, 'n_det': m['n_det'], 'goals_met': m.get('goals_met'),
                      'headline': {k[3:]: round(v, 4) for k, v in m.items() if k.startswith('dl_') and ('comp' in k or 'matched' in k) and 'error_rule' not in k},
                      'equal_purity': {'DL': dl, 'TS map': ts, 'classical': cl},
                      'dl_minus_ts_map': {k: round(dl[k] - ts[k], 4) for k in dl if k in ts}}
    doc = dict(res)
    if len(specs) >= 3: doc['over runs'] = {'DL': spread(res, 'DL'), 'dl_minus_ts_map': spread(res, 'dl_minus_ts_map')}
    atomic_write_text(out, json.dumps(doc, indent=1))
    for label, r in res.items():
        print(label, r['n_det'], {k: v for k, v in r['dl_minus_ts_map'].items() if 'p0.95' in k})
    if 'over runs' in doc:
        print('margin over runs', {k: v for k, v in doc['over runs']['dl_minus_ts_map'].items() if 'p0.95' in k})

if __name__ == '__main__':
    main(*sys.argv[1:])
