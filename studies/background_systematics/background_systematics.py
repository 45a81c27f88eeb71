"""Background-model systematics (issue 8, item 5): train the MIUN on skies with one diffuse model, test on both.

Runs fermi_nb.systematics.run_comparison (nbs/54_background_systematics.ipynb) for two diffuse models of a profile
(default real573w, p6v11 vs modelO): simulate train/val/test skies with the same seeds for both models, cut them,
train one detector per model, localise every test sky with both detectors, and tabulate the 2 × 2 cases.
Every step skips what --work already holds, so a run can be continued (a larger --epochs continues training).
Saves studies/background_systematics/results/background_systematics.json (sizes, wall times, the command) and
studies/background_systematics/results/background_systematics_{cross_table,cross_deltas,background,rates_sqrt_ts,rates_abs_b}.csv.

Example (the recorded run; see studies/background_systematics/results/background_systematics.json for the exact command):
  FERMI_NB_DATA=DATA_DIR TF_NUM_INTEROP_THREADS=1 TF_NUM_INTRAOP_THREADS=2 TF_CPP_MIN_LOG_LEVEL=2 \\
    nice -n 5 .venv/bin/python studies/background_systematics/background_systematics.py --work /tmp/bgsys --n-train 8 --n-val 2 --n-test 4 \\
    --epochs 12 --max-train-patches 3072 --max-val-patches 768
"""
import argparse, json, os, shlex, shutil, sys, time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / 'results'
TABLES = ('cross_table', 'cross_deltas', 'background', 'rates_sqrt_ts', 'rates_abs_b')


def run_replica(a, res):
    "Second detector of the first model (seed --replica-seed), tested on both test sets; its table rows plus the original detector's."
    import numpy as np, pandas as pd
    from fermi_nb.patching import PatchStore
    from fermi_nb.miun import train_miun, load_miun
    from fermi_nb.localisation_run import localise_sky
    from fermi_nb.config import write_csv_atomic
    from fermi_nb.sky import Sky
    from fermi_nb.systematics import _subset, evaluate_cases, cross_table
    work, models, profiles = Path(a.work), res['summary']['models'], res['profiles']
    m0, t0 = models[0], time.time()
    out = work / m0 / f'miun_seed{a.replica_seed}'
    with PatchStore(work / m0 / 'patching' / 'train' / 'patches.h5') as tr, PatchStore(work / m0 / 'patching' / 'val' / 'patches.h5') as va:
        train_miun(profiles[m0], data=_subset(tr, a.max_train_patches, a.seed), val_data=_subset(va, a.max_val_patches, a.seed),
                   out_dir=out, epochs=a.epochs, seed=a.replica_seed)
    t_train = time.time() - t0
    print(f"[{time.strftime('%H:%M:%S')}] replica detector {m0} seed {a.replica_seed}: {t_train:.0f} s", flush=True)
    model = load_miun(out / 'model.keras', profiles[m0])
    name = f'{m0}_seed{a.replica_seed}'
    dets, truths = {}, {}
    for b in models:
        with PatchStore(work / b / 'patching' / 'test' / 'patches.h5') as st:
            seeds = [int(s) for s in st.sky_seed]
            truths[b] = [Sky.load(work / b / 'simulate' / 'test' / f'sky_{s:05d}').sources for s in seeds]
            dets[(name, b)] = []
            for i, s in enumerate(seeds):
                path = work / 'detections' / f'train_{name}__test_{b}' / f'sky_{s:05d}.csv'
                if path.exists(): det = pd.read_csv(path)
                else: det = localise_sky(model, st, i, profiles[b], seed=int(a.seed) + 1000 + s)[0]; write_csv_atomic(det, path)
                dets[(name, b)].append(det)
    tab = cross_table(evaluate_cases(dets, truths, profiles[m0].localisation.match_radius_deg), a.lat_split_deg)
    tab['matched'] = tab.test_model == m0
    tab = pd.concat([res['table'][res['table'].train_model == m0], tab], ignore_index=True)
    tab['wall_train_s'] = round(t_train, 1)
    print(tab[['train_model', 'test_model', 'completeness_ts25', 'completeness_ts25_err', 'completeness_ts100', 'purity', 'fp_per_sky_plane']].round(3).to_string(index=False))
    return tab


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--work', required=True, help='work directory (skies, stores, detectors, detections)')
    ap.add_argument('--profile', default='real573w')
    ap.add_argument('--models', default='p6v11,modelO', help='two diffuse models, comma-separated')
    ap.add_argument('--n-train', type=int, default=8)
    ap.add_argument('--n-val', type=int, default=2)
    ap.add_argument('--n-test', type=int, default=4)
    ap.add_argument('--epochs', type=int, default=12)
    ap.add_argument('--max-train-patches', type=int, default=None)
    ap.add_argument('--max-val-patches', type=int, default=None)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--lat-split-deg', type=float, default=10.0)
    ap.add_argument('--no-save', action='store_true', help='do not write studies/background_systematics/results')
    ap.add_argument('--replica-seed', type=int, default=None,
                    help='also train a second detector on the first model with this weight/Poisson seed (same skies and patches) '
                         'and test it on both test sets: the run-to-run scatter of training')
    a = ap.parse_args(argv)
    from fermi_nb.systematics import run_comparison, format_cross
    t0 = time.time()
    res = run_comparison(a.work, a.profile, tuple(a.models.split(',')), a.n_train, a.n_val, a.n_test, a.epochs,
                         a.max_train_patches, a.max_val_patches, a.seed, a.lat_split_deg, log=True)
    wall = time.time() - t0
    replica = run_replica(a, res) if a.replica_seed is not None else None
    print(format_cross(res['table']).to_string(index=False))
    print(res['deltas'][['kind', 'case', 'completeness_ts25', 'completeness_ts25_err', 'purity', 'purity_err', 'fp_per_sky_plane']].round(3).to_string(index=False))
    if a.no_save: return 0
    import numpy as np
    summary = dict(res["summary"], wall_this_call_s=round(wall, 1), wall_total_s=round(sum(res["summary"]["wall_s"].values()), 1), cpu_count=os.cpu_count(),
                   load_average_1min=round(os.getloadavg()[0], 2), date=time.strftime('%Y-%m-%dT%H:%M:%S'),
                   command='FERMI_NB_DATA=DATA_DIR TF_NUM_INTEROP_THREADS=1 TF_NUM_INTRAOP_THREADS=2 nice -n 5 .venv/bin/python '
                           + ' '.join(shlex.quote(x) for x in ['studies/background_systematics/background_systematics.py', *(sys.argv[1:] if argv is None else argv)]))
    RESULTS.mkdir(parents=True, exist_ok=True)
    if replica is not None:
        replica.to_csv(RESULTS / 'background_systematics_replica.csv', index=False)
        summary['replica'] = dict(seed=a.replica_seed, model=res['summary']['models'][0], file='background_systematics_replica.csv')
    for name in TABLES: shutil.copyfile(Path(a.work) / f'{name}.csv', RESULTS / f'background_systematics_{name}.csv')
    tmp = RESULTS / '.background_systematics.json.tmp'
    tmp.write_text(json.dumps(summary, indent=1, default=lambda o: o.item() if isinstance(o, np.generic) else str(o)))
    os.replace(tmp, RESULTS / 'background_systematics.json')
    print(f"saved {RESULTS / 'background_systematics.json'}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
