"""Two real573w runs side by side on the real map: the equal-purity cells (DL, TS map, classical) and the radius-rule
headline of each run's real_sky stage, with the DL's margin over the TS map at every cell.
Usage: python studies/real_sky/compare_real_sky.py LABEL_A=RUN_A LABEL_B=RUN_B OUT_JSON"""
import sys, json
from pathlib import Path
from fermi_nb.config import atomic_write_text

def cells(m: dict, pre: str) -> dict:
    "The run's equal-purity completeness of one catalogue, keyed 'highb_1e-09_p0.95'."
    return {k[len(f'ep_{pre}_'):]: round(v, 4) for k, v in m.items()
            if k.startswith(f'ep_{pre}_') and not k.endswith('_err') and v is not None}

def main(a, b, out):
    res = {}
    for spec in (a, b):
        label, run = spec.split('=', 1)
        m = json.loads((Path(run) / 'metrics' / 'real_sky.json').read_text())
        dl, ts, cl = cells(m, 'dl'), cells(m, 'ts_map'), cells(m, 'classical')
        res[label] = {'run': Path(run).name, 'n_det': m['n_det'], 'goals_met': m.get('goals_met'),
                      'headline': {k[3:]: round(v, 4) for k, v in m.items() if k.startswith('dl_') and ('comp' in k or 'matched' in k) and 'error_rule' not in k},
                      'equal_purity': {'DL': dl, 'TS map': ts, 'classical': cl},
                      'dl_minus_ts_map': {k: round(dl[k] - ts[k], 4) for k in dl if k in ts}}
    atomic_write_text(out, json.dumps(res, indent=1))
    for label, r in res.items():
        print(label, r['n_det'], {k: v for k, v in r['dl_minus_ts_map'].items() if 'p0.95' in k})

if __name__ == '__main__':
    main(*sys.argv[1:4])
