"""Collect the headline numbers of several real573w runs (issue 8) into studies/real_sky/results/real573w_runs.json.

Each run is the package's own `fermi-nb catalog --profile real573w --out RUN -p ...`; this script only reads the run
directories (metrics/real_sky.json, metrics/evaluation.json, profile.yaml) and records them with a label and the
command that made them:

  .venv/bin/python studies/real_sky/runs_summary.py LABEL=RUN_DIR=COMMAND [LABEL=RUN_DIR=COMMAND ...]
"""
import json, sys
from pathlib import Path

import yaml

from fermi_nb.config import atomic_write_text
from fermi_nb.realsky import GOALS_DL

RESULTS = Path(__file__).resolve().parent / 'results'


def run_record(run_dir: Path, command: str) -> dict:
    m = json.loads((run_dir / 'metrics' / 'real_sky.json').read_text())
    ev = json.loads((run_dir / 'metrics' / 'evaluation.json').read_text())
    prof = yaml.safe_load((run_dir / 'profile.yaml').read_text())
    keep = [f'{who}_{k}' for who in ('dl', 'classical', 'limit_ts25', 'ceiling_ts25') for k in GOALS_DL]
    return dict(command=command, run_dir=str(run_dir),
                geometry=dict(npix=prof['patches']['npix'], mask_radius_px=prof['patches']['mask_radius_px'],
                              mask_min_expected_ts=prof['patches']['mask_min_expected_ts'],
                              stitch_radius_deg=prof['localisation']['stitch_radius_deg'],
                              noise=prof['patches'].get('noise', 'patch'), prob_threshold=prob_threshold(run_dir, prof),
                              threshold_rule=prof['localisation'].get('threshold_rule', 'fixed')),
                training=dict(n_train_skies=prof['training']['n_train_skies'], epochs=prof['training']['epochs']),
                real_sky={k: m[k] for k in keep if k in m} | {k: m[k] for k in ('n_det', 'dl_highb_n_det', 'dl_lowb_n_det', 'goals_met') if k in m}
                         | {k: m[k] for k in m if k.startswith('flux_4fgl_')},
                simulated_test_sky={k: ev.get(k) for k in ('n_det', 'purity', 'chance_purity', 'completeness_ts25', 'completeness_ts100')},
                characterisation=characterisation_record(run_dir))


def prob_threshold(run_dir: Path, prof: dict) -> float:
    "The threshold the run localised with: its operating point under threshold_rule 'validation', else the profile's value."
    op = run_dir / 'localisation' / 'operating_point.json'
    if prof['localisation'].get('threshold_rule', 'fixed') == 'validation' and op.exists():
        return json.loads(op.read_text())['prob_threshold']
    return prof['localisation']['prob_threshold']


def characterisation_record(run_dir: Path) -> dict:
    "Flux and real/fake numbers of the run's simulated test sky (empty when the stage did not finish)."
    path = run_dir / 'metrics' / 'characterisation.json'
    if not path.exists(): return {}
    c = json.loads(path.read_text())
    return {k: c.get(k) for k in ('flux_median_abs_dex_ts25', 'flux_bias_dex_ts25', 'flux_cov68_ts25', 'flux_cov68_ts9_25', 'auc_real',
                                  'loc_cov68', 'loc_cov95', 'loc_cov68_floor', 'loc_cov95_floor', 'group_balanced_accuracy')}


def main(specs):
    path = RESULTS / 'real573w_runs.json'
    out = json.loads(path.read_text()) if path.exists() else {}
    for spec in specs:
        label, run_dir, command = spec.split('=', 2)
        out[label] = run_record(Path(run_dir), command)
        r = out[label]['real_sky']
        print(label, {k: round(r[f'dl_{k}'], 3) for k in GOALS_DL if f'dl_{k}' in r}, 'goals met', r.get('goals_met'))
    atomic_write_text(path, json.dumps(out, indent=1, default=float))


if __name__ == '__main__':
    main(sys.argv[1:])
