"""Collect the headline numbers of a lat6 pipeline run into studies/lat6/results (issues 5, 6, 7).

The run itself is the package's runner on the lat6 profile at a CPU-sized scale (see studies/lat6/results/lat6_pipeline.json,
key 'command'); this script only reads its run directory:

  .venv/bin/python studies/lat6/lat6_pipeline_summary.py runs/lat6
  .venv/bin/python studies/lat6/lat6_pipeline_summary.py runs/lat6_8ep --tag _8ep --command "..."   # a variant

Writes studies/lat6/results/lat6_pipeline_history.csv (MIUN training curves) and studies/lat6/results/lat6_pipeline.json
(training, evaluation on the test skies, precision-recall over the start threshold (completeness against every
simulated source), baseline, characterisation). When the run has a baseline stage, its tables are kept too:
`baseline_comparison` (both searches at their own thresholds) and `baseline_equal_purity` (both cut to matched
fractions 0.90 / 0.95 / 0.98 against the truth, per |b| band and flux cut, with errors).
"""
import json, sys
from pathlib import Path

import pandas as pd

from fermi_nb.config import atomic_write_text

REPO = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / 'results'

COMMAND = ("FERMI_NB_DATA=DATA_DIR TF_NUM_INTEROP_THREADS=1 TF_NUM_INTRAOP_THREADS=2 nice -n 5 "
           ".venv/bin/fermi-nb run --profile lat6 --out runs/lat6 -p training.n_train_skies=3 "
           "-p training.n_val_skies=1 -p training.n_test_skies=5 -p training.epochs=3 -p n_baseline_patches=6")


def _json(path):
    return json.loads(Path(path).read_text()) if Path(path).exists() else None


def chance_purity_of_run(run, radius_deg):
    "Chance purity of the run's test detections (for runs whose evaluation stage predates it)."
    from fermi_nb.evaluation import chance_purity
    from fermi_nb.localisation_files import read_detections
    from fermi_nb.sky import Sky, sky_dir
    from fermi_nb.config import load_profile
    loc = load_profile(run / 'profile.yaml').localisation
    entries = read_detections(run, 'test')
    truths = [Sky.load(sky_dir(run / 'simulate' / 'test', e['sky_seed'])).sources for e, _ in entries]
    return chance_purity([d for _, d in entries], truths, radius_deg, loc.chance_shift_deg, loc.chance_n_draws)


def group_ba_vs_threshold(run, thresholds=(0.5, 0.9, 0.98, 0.99, 0.994, 0.996, 0.998, 0.999)):
    "Three-group balanced accuracy of the test detections if FAKE were called below each p_real threshold (issue 7)."
    import numpy as np
    from fermi_nb.characterise import GROUPS, group_decision
    path = run / 'characterisation' / 'test_characterised.csv'
    if not path.exists(): return None
    d = pd.read_csv(path)
    groups = list(dict.fromkeys(GROUPS.values()))   # extragalactic, Galactic, FAKE
    truth = d['true_label'].map(GROUPS).map(groups.index).to_numpy()
    p_group, p_real = d[[f'p_group_{g}' for g in groups]].to_numpy(float), d['p_real'].to_numpy(float)
    recalls = lambda pred, sel: {g: float(np.mean(pred[sel & (truth == k)] == k)) for k, g in enumerate(groups) if (sel & (truth == k)).any()}
    rows = []
    for t in thresholds:
        rec = recalls(group_decision(p_group, p_real, t, groups), np.ones(len(d), bool))
        rows.append({'threshold': t, **{f'recall_{g}': v for g, v in rec.items()}, 'balanced_accuracy': float(np.mean(list(rec.values())))})
    real_only = recalls(group_decision(p_group, p_real, 0.0, groups), truth != groups.index('FAKE'))
    return {'rows': rows, 'extragalactic_galactic_balanced_accuracy_of_true_detections': float(np.mean(list(real_only.values())))}


def main(run_dir, tag='', command=COMMAND):
    run = Path(run_dir)
    hist = pd.read_csv(run / 'miun' / 'loss_dice_bce' / 'history.csv')
    atomic_write_text(RESULTS / f'lat6_pipeline{tag}_history.csv', hist.to_csv(index=False))
    profile = (run / 'profile.yaml').read_text()
    metrics = {p.stem: _json(p) for p in sorted((run / 'metrics').glob('*.json'))}
    ev = metrics.get('evaluation') or {}
    if ev and 'chance_purity' not in ev:
        ev.update(chance_purity_of_run(run, ev['match_radius_deg']))
        ev['purity_chance_corrected'] = (ev['purity'] - ev['chance_purity']) / (1 - ev['chance_purity'])
    pr = pd.read_csv(run / 'evaluation' / 'pr_curve.csv') if (run / 'evaluation' / 'pr_curve.csv').exists() else None
    tables = {f'baseline_{name}': pd.read_csv(run / 'baseline' / f'{name}.csv').to_dict(orient='list')
              for name in ('comparison', 'equal_purity') if (run / 'baseline' / f'{name}.csv').exists()}
    summary = dict(command=command, run_dir=str(run), profile_yaml=profile,
                   training=dict(epochs=int(len(hist)), best_val_acc_a=float(hist.val_acc_a.max()),
                                 last=hist.iloc[-1].to_dict()),
                   metrics=metrics,
                   pr_curve=None if pr is None else pr.to_dict(orient='list'),
                   group_ba_vs_class_threshold=group_ba_vs_threshold(run), **tables)
    atomic_write_text(RESULTS / f'lat6_pipeline{tag}.json', json.dumps(summary, indent=1, default=float))
    print(json.dumps(summary['training'], indent=1, default=float))
    print('group BA vs classification threshold', json.dumps(summary['group_ba_vs_class_threshold'], indent=1))
    for stage in ('evaluation', 'baseline', 'characterisation'):
        m = metrics.get(stage) or {}
        print(stage, {k: v for k, v in m.items() if not isinstance(v, (list, dict))})


if __name__ == '__main__':
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('run_dir', nargs='?', default='runs/lat6', help="the lat6 run directory")
    ap.add_argument('--tag', default='', help="suffix of the result files (lat6_pipeline<tag>.json)")
    ap.add_argument('--command', default=COMMAND, help="the command that made the run, recorded with the numbers")
    a = ap.parse_args()
    main(a.run_dir, a.tag, a.command)
