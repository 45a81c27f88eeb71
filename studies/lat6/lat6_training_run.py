"""A reduced lat6 MIUN training run on CPU (issue 5), reproducible end to end.

Not a test: it takes ~45 min on 2 shared CPU cores. Stages (each skips what is already done in --work):

  simulate  the pipeline's stage (fermi_nb.sky.run_simulate): lat6 Asimov skies with the real instrument/diffuse inputs
            ($FERMI_NB_DATA), --n-train / --n-val / --n-test skies (training.n_*_skies) into WORK/simulate
  patch     the pipeline's stage (fermi_nb.patching.run_patching): rotated grids for train/val, the unrotated test grid
            for test, into WORK/patching
  time      a few training steps + one validation pass, to size the run
  train     train_miun(lat6, dice_bce, Adam 1e-3 + reduce-on-plateau, resumable) on an optional fixed random
            subset of --max-train-patches training patches; validation on a fixed subset (--max-val-patches), fixed Poisson draw
  test      localise one unrotated test sky (one Poisson realisation) and evaluate completeness/purity at
            localisation.match_radius_deg (0.3 deg)
  export    copy history.csv (+ the run's numbers) to studies/lat6/results/lat6_training_history.csv / lat6_training.json

Reproduce the recorded run (studies/lat6/results/lat6_training.json, lat6_training_history.csv) in one command:
  FERMI_NB_DATA=DATA_DIR TF_NUM_INTEROP_THREADS=1 TF_NUM_INTRAOP_THREADS=2 \\
    nice -n 5 .venv/bin/python studies/lat6/lat6_training_run.py --work /tmp/lat6run --stages all --epochs 14 --max-train-patches 512 --max-val-patches 256
(it was made in steps: --stages simulate,patch,time; --stages train --epochs 6; the same with --epochs 30 under
`timeout 840`, which stopped it during epoch 15 after 14 completed epochs; --stages test,export. Re-running with a
larger --epochs continues the run from /tmp/lat6run/miun.)
"""
import argparse, json, os, sys, time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / 'results'


class SubsetPatches:
    "A fixed subset of a patch source's rows, with the PatchStore reading interface (asimov/mask/__len__)."
    def __init__(self, src, rows):
        self.src, self.rows = src, np.sort(np.asarray(rows, int))
        self.profile = src.profile
    def __len__(self): return len(self.rows)
    def asimov(self, idx): return self.src.asimov(self.rows[np.asarray(idx)])
    def mask(self, idx): return self.src.mask(self.rows[np.asarray(idx)])


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def stage_simulate(p, work, a):
    "The pipeline's simulate stage (fermi_nb.sky.run_simulate) into WORK/simulate/{train,val,test}."
    from fermi_nb.sky import run_simulate
    t0 = time.time()
    metrics = run_simulate(work, p, n_workers=1, progress=False)
    log(f"simulate: {metrics} in {time.time() - t0:.0f} s")
    return time.time() - t0


def stage_patch(p, work):
    "The pipeline's patching stage (fermi_nb.patching.run_patching) into WORK/patching/<split>/patches.h5."
    from fermi_nb.patching import run_patching
    t0 = time.time()
    run_patching(work, p, progress=False)
    log(f"patch stores in {time.time() - t0:.0f} s")
    return time.time() - t0


def open_sources(p, work, a):
    from fermi_nb.patching import PatchStore
    train = PatchStore(work / 'patching' / 'train' / 'patches.h5', in_memory=True)
    val = PatchStore(work / 'patching' / 'val' / 'patches.h5', in_memory=True)
    rows = np.arange(len(train))
    if a.max_train_patches and a.max_train_patches < len(train):
        rows = np.random.default_rng(a.subset_seed).choice(len(train), a.max_train_patches, replace=False)
        train = SubsetPatches(train, rows)
    if a.max_val_patches and a.max_val_patches < len(val):   # fixed subset: the same rows and Poisson draw every epoch
        val = SubsetPatches(val, np.random.default_rng(a.subset_seed + 1).choice(len(val), a.max_val_patches, replace=False))
    return train, val, rows


def stage_time(p, work, a, n_steps=6):
    "Seconds per training step (batch_size patches) and per validation patch."
    import keras
    from fermi_nb.miun import build_miun, SegmentationLoss, miun_metrics, make_dataset
    train, val, _ = open_sources(p, work, a)
    model = build_miun(p)
    model.compile(optimizer=keras.optimizers.Adam(p.training.learning_rate), loss=SegmentationLoss(p.training.loss),
                  metrics=miun_metrics())
    ds = iter(make_dataset(train, p, True, seed=0))
    x, y = next(ds); model.train_on_batch(x, y)        # warm-up / tracing
    t0 = time.time()
    for _ in range(n_steps):
        x, y = next(ds); model.train_on_batch(x, y)
    step_s = (time.time() - t0) / n_steps
    vds = make_dataset(val, p, False, seed=0, indices=np.arange(128))
    t0 = time.time(); model.evaluate(vds, verbose=0); val_s = (time.time() - t0) / 128
    res = dict(train_step_s=step_s, batch_size=p.training.batch_size, train_patch_s=step_s / p.training.batch_size,
               val_patch_s=val_s, n_train=len(train), n_val=len(val))
    res['epoch_estimate_s'] = res['train_patch_s'] * len(train) + val_s * len(val)
    log(f"timing: {json.dumps(res)}")
    return res


def stage_train(p, work, a):
    from fermi_nb.miun import train_miun
    train, val, rows = open_sources(p, work, a)
    log(f"training on {len(train)} patches ({'subset' if len(rows) < a.n_train * p.n_patches else 'all'}), "
        f"validating on {len(val)}; epochs {a.epochs}")
    t0 = time.time()
    model, hist = train_miun(p, data=train, val_data=val, out_dir=work / 'miun', epochs=a.epochs, verbose=2)
    log(f"training finished in {time.time() - t0:.0f} s")
    return hist


def stage_test(p, work, a):
    from fermi_nb.miun import load_miun
    from fermi_nb.patching import PatchStore
    from fermi_nb.localisation_run import localise_sky
    from fermi_nb.evaluation import evaluate, completeness_above
    from fermi_nb.sky import Sky
    store = PatchStore(work / 'patching' / 'test' / 'patches.h5')
    model = load_miun(work / 'miun' / 'model.keras', p)
    t0 = time.time()
    det, prob, pids = localise_sky(model, store, 0, p, seed=12345)
    t_loc = time.time() - t0
    truth = Sky.load(work / 'simulate' / 'test' / f'sky_{int(store.sky_seed[0]):05d}').sources
    ev = evaluate(det, truth, p.localisation.match_radius_deg)
    o = ev['overall'].iloc[0]
    res = dict(test_sky_seed=int(store.sky_seed[0]), localise_s=t_loc, match_radius_deg=p.localisation.match_radius_deg,
               n_true=int(o.n_true), n_det=int(o.n_det), n_tp=int(o.n_tp), completeness=float(o.completeness),
               purity=float(o.purity))
    for ts in (25, 100):
        c = completeness_above(truth, ev['matches'], ts)
        res[f'completeness_ts{ts}'] = c['completeness']; res[f'n_true_ts{ts}'] = c['n_true']
    # pixel scores of this test sky (one Poisson draw) against the target masks
    from fermi_nb.miun import pixel_scores
    masks = store.mask(np.flatnonzero(store.sky_index == 0))
    res['test_pixel'] = pixel_scores(masks, prob)
    res['test_mask_positive_fraction'] = float(masks.mean())
    # the same probabilities against masks of the detectable sources only (expected Asimov TS >= 9, >= 25)
    geom, sip = store.geometry(0), store.sources[store.sources.sky_index == 0]
    for ts in (9, 25):
        m_ts = geom.target_masks(sip[sip.expected_ts >= ts])[pids]
        res[f'test_pixel_ts{ts}'] = pixel_scores(m_ts, prob); res[f'test_mask_positive_fraction_ts{ts}'] = float(m_ts.mean())
    log(f"test sky: {json.dumps(res)}")
    ev['s1'].to_csv(work / 'test_rates_s1.csv', index=False)
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--work', default='/tmp/lat6run', help='work directory (skies, patch stores, run)')
    ap.add_argument('--stages', default='all', help='comma list of simulate,patch,time,train,test,export or all')
    ap.add_argument('--n-train', type=int, default=4); ap.add_argument('--n-val', type=int, default=1)
    ap.add_argument('--n-test', type=int, default=1)
    ap.add_argument('--epochs', type=int, default=8, help='total epochs (re-running continues the run)')
    ap.add_argument('--max-train-patches', type=int, default=0, help='fixed random training subset (0: all)')
    ap.add_argument('--max-val-patches', type=int, default=0, help='fixed random validation subset (0: all)')
    ap.add_argument('--subset-seed', type=int, default=0)
    a = ap.parse_args(argv)
    os.environ.setdefault('TF_NUM_INTEROP_THREADS', '1'); os.environ.setdefault('TF_NUM_INTRAOP_THREADS', '2')
    from fermi_nb.config import load_profile
    p = load_profile('lat6', {'training.n_train_skies': a.n_train, 'training.n_val_skies': a.n_val, 'training.n_test_skies': a.n_test})
    work = Path(a.work); work.mkdir(parents=True, exist_ok=True)
    stages = ['simulate', 'patch', 'train', 'test', 'export'] if a.stages == 'all' else a.stages.split(',')
    info_path = work / 'run_info.json'
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    if 'simulate' in stages or 'patch' in stages:
        info.setdefault('simulate_s', stage_simulate(p, work, a))
        if 'patch' in stages: info.setdefault('patch_s', stage_patch(p, work))
    if 'time' in stages: info['timing'] = stage_time(p, work, a)
    if 'train' in stages:
        t0 = time.time(); stage_train(p, work, a)
        info['train_wall_s'] = info.get('train_wall_s', 0) + time.time() - t0
        info.update(n_train_skies=a.n_train, n_val_skies=a.n_val, max_train_patches=a.max_train_patches, max_val_patches=a.max_val_patches,
                    subset_seed=a.subset_seed)
    if 'test' in stages: info['test'] = stage_test(p, work, a)
    info_path.write_text(json.dumps(info, indent=1))
    if 'export' in stages:
        h = pd.read_csv(work / 'miun' / 'history.csv')
        # per-epoch wall time (training + validation) from the Keras verbose=2 lines of the train logs, in order
        import re
        secs = [int(m) for lg in sorted(work.glob('train*.log')) for m in re.findall(r'^\d+/\d+ - (\d+)s - ', lg.read_text(), re.M)]
        if len(secs) >= len(h): h['epoch_s'] = secs[:len(h)]
        RESULTS.mkdir(parents=True, exist_ok=True)
        h.to_csv(RESULTS / 'lat6_training_history.csv', index=False, float_format='%.5g')
        best = h.loc[h.val_loss.idxmin()]
        summary = dict(benchmark='lat6_training_cpu', profile='lat6', **info, epochs_done=len(h),
                       best_epoch=int(best.epoch) + 1, best_val_acc_a=float(best.val_acc_a),
                       best_val_dice=float(best.val_dice), max_val_acc_a=float(h.val_acc_a.max()),
                       load_average_1min=os.getloadavg()[0], cpu_count=os.cpu_count(), date=time.strftime('%Y-%m-%dT%H:%M:%S'))
        (RESULTS / 'lat6_training.json').write_text(json.dumps(summary, indent=1))
        log(f"exported {RESULTS / 'lat6_training_history.csv'} and lat6_training.json")
    return 0


if __name__ == '__main__':
    sys.exit(main())
