"""Train the gc MIUN on simulated Galactic-plane patches and apply it to the real Galactic-centre counts cube.

    nice -n 5 .venv/bin/python studies/galactic_center/gc_train_apply.py [--out runs/gc] [--n-train-skies 3] [--n-val-skies 1]
        [--rotations 3] [--max-abs-b 10] [--epochs 10] [--apply-only]

Steps (nbs/53_galactic_center.ipynb explains each): simulate gc skies (saved under OUT/skies, reused), cut each with
`--rotations` random grid rotations keeping patches with |b_centre| < `--max-abs-b`, train with
fermi_nb.miun.train_miun into OUT/miun (resumes), then (a) a simulated check: 8°×8° patches centred on the plane of the
validation skies, detections matched to the simulated sources with expected TS ≥ 25, and (b) the real PSF3 cube (and
PSF2+PSF3) reprojected onto the patch at (0, 0), detections compared with 4FGL-DR2.
Writes studies/galactic_center/results/gc_summary.json, gc_history.csv, gc_completeness.csv, gc_detections.csv, gc_4fgl_region.csv.
"""
import os, sys, json, time, argparse, datetime
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('FERMI_NB_DATA', 'DATA_DIR')
from pathlib import Path
import numpy as np, pandas as pd, healpy as hp

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / 'results'

from fermi_nb.config import load_profile
from fermi_nb.data import data_path
from fermi_nb.config import atomic_write_text
from fermi_nb.galactic_center import (plane_training_patches, read_gc_cube, cube_to_patch, RegionPatch, detect_in_patch,
                                      region_sources, region_4fgl, compare_with_4fgl)
from fermi_nb.catalog import load_4fgl, crossmatch


def healpix_to_patch(m, nside, patch, k=None):
    "Expected counts of a HEALPix counts map on a RegionPatch grid (bilinear, solid-angle weighted, as 10_patching)."
    n = patch.npix_of(k)
    X, Y = np.meshgrid(np.arange(n, dtype=float), np.arange(n, dtype=float))
    l, b = patch.pixel_to_sky(np.zeros(X.shape, int), X, Y, k)
    return hp.get_interp_val(m, l, b, lonlat=True) * patch.pixel_solid_angle_sr(k) / hp.nside2pixarea(nside)


def simulated_check(model, profile, sky_dir, seeds, centres_l_deg, match_radius_deg, edge_margin_px, rng):
    "Detections on plane patches of simulated skies matched to the sources with expected TS ≥ mask_min_expected_ts."
    from fermi_nb.sky import Sky, sky_dir as _sky_dir
    rows = []
    for seed in seeds:
        sky = Sky.load(_sky_dir(sky_dir, seed))
        for l0 in centres_l_deg:
            patch = RegionPatch(profile, l0, 0.0)
            inputs = [rng.poisson(np.maximum(healpix_to_patch(sky.counts(k), profile.nside[k], patch, k), 0)).astype(np.float32)
                      for k in range(profile.n_bins)]
            det, _ = detect_in_patch(model, inputs, patch, profile)
            det = region_sources(det, patch, 0.0)
            truth = region_sources(sky.sources, patch, 0.0)
            truth = truth[truth.expected_ts >= profile.patches.mask_min_expected_ts].reset_index(drop=True)
            s, _, _ = compare_with_4fgl(det, truth.assign(Flux1000=truth.s1_ph_cm2_s), match_radius_deg, edge_margin_px)
            rows.append(dict(sky_seed=seed, glon_deg=l0, n_det=s['n_det'], n_det_matched=s['n_det_matched'], n_true=s['n_4fgl'],
                             n_true_found=s['n_4fgl_found'], sum_counts_bin0=float(inputs[0].sum())))
    t = pd.DataFrame(rows)
    return dict(patches=len(t), n_true=int(t.n_true.sum()), n_det=int(t.n_det.sum()), n_true_found=int(t.n_true_found.sum()),
                n_det_matched=int(t.n_det_matched.sum()), completeness=float(t.n_true_found.sum() / max(t.n_true.sum(), 1)),
                purity=float(t.n_det_matched.sum() / max(t.n_det.sum(), 1)),
                mean_counts_bin0=float(t.sum_counts_bin0.mean()), centres_l_deg=list(map(float, centres_l_deg)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', default='runs/gc')
    ap.add_argument('--n-train-skies', type=int, default=3)
    ap.add_argument('--n-val-skies', type=int, default=1)
    ap.add_argument('--rotations', type=int, default=3)
    ap.add_argument('--max-abs-b', type=float, default=10.0)
    ap.add_argument('--epochs', type=int, default=10)
    ap.add_argument('--base-filters', type=int, default=None)
    ap.add_argument('--apply-only', action='store_true', help='skip training: use OUT/miun/model.keras as it is')
    ap.add_argument('--match-radius', type=float, default=0.2)
    ap.add_argument('--edge-margin-px', type=float, default=3)
    a = ap.parse_args(argv)
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    overrides = {'training.epochs': a.epochs}
    if a.base_filters: overrides['training.base_filters'] = a.base_filters
    profile = load_profile('gc', overrides)
    train_seeds = list(range(1, 1 + a.n_train_skies)); val_seeds = list(range(10001, 10001 + a.n_val_skies))
    t0 = time.time(); timing = {}
    from fermi_nb.miun import train_miun, load_miun, positive_fraction, InMemoryPatches
    if not a.apply_only:
        tr = plane_training_patches(profile, train_seeds, a.rotations, a.max_abs_b, sky_dir=out / 'skies')
        va = plane_training_patches(profile, val_seeds, 1, a.max_abs_b, sky_dir=out / 'skies')
        timing['patches_s'] = round(time.time() - t0, 1)
        print(f'train patches {len(tr[1])}, val patches {len(va[1])}, positive px {tr[1].mean():.4f} ({timing["patches_s"]} s)', flush=True)
        t1 = time.time()
        model, hist = train_miun(profile, data=(tr[0], tr[1]), val_data=(va[0], va[1]), out_dir=out / 'miun', verbose=2)
        timing['train_s'] = round(time.time() - t1, 1)
        n_train, n_val, pos = len(tr[1]), len(va[1]), float(tr[1].mean())
        atomic_write_text(out / 'miun' / 'training_data.json', json.dumps(dict(n_train_patches=n_train, n_val_patches=n_val,
                          positive_px_fraction=pos, command='nice -n 5 .venv/bin/python studies/galactic_center/gc_train_apply.py '
                          + ' '.join(argv if argv is not None else sys.argv[1:]), timing_s=timing)))
        del tr, va
    else:
        model = load_miun(out / 'miun' / 'model.keras', profile)
        hist = pd.DataFrame(json.loads((out / 'miun' / 'state.json').read_text())['history'])
        n_train = n_val = pos = None
        info = out / 'miun' / 'training_data.json'   # written by the training run
        if info.exists():
            d = json.loads(info.read_text())
            n_train, n_val, pos = d['n_train_patches'], d['n_val_patches'], d['positive_px_fraction']
            timing['trained_by'] = d['command']; timing['training_run'] = d.get('timing_s')
    hist.to_csv(RESULTS / 'gc_history.csv', index=False)
    best = hist.loc[hist.val_loss.idxmin()]
    rng = np.random.default_rng(7)
    t2 = time.time()
    sim = simulated_check(model, profile, out / 'skies', val_seeds, [-24.0, -16.0, -8.0, 0.0, 8.0, 16.0, 24.0],
                          a.match_radius, a.edge_margin_px, rng)
    timing['simulated_check_s'] = round(time.time() - t2, 1)
    print('simulated plane check:', sim, flush=True)
    real = {}
    for ev in ('PSF3', 'PSF2+PSF3'):
        cube = read_gc_cube(ev); patch = RegionPatch(profile, 0.0, 0.0)
        inputs, _ = cube_to_patch(cube, profile, patch)
        det_all, prob = detect_in_patch(model, inputs, patch, profile)
        det0 = region_sources(det_all, patch, 0.0); det = region_sources(det_all, patch, a.edge_margin_px)
        fgl0 = region_4fgl(profile, patch, 0.0); fgl = region_4fgl(profile, patch, a.edge_margin_px - 2)
        summary, fgl_m, table = compare_with_4fgl(det0, fgl0, a.match_radius, a.edge_margin_px)
        m03, _, _ = compare_with_4fgl(det0, fgl0, 0.3, a.edge_margin_px)
        summary['matched_fraction_0.3deg'], summary['completeness_0.3deg'] = m03['matched_fraction'], m03['completeness']
        real[ev] = summary
        print(ev, summary, flush=True)
        if ev == 'PSF3':
            cols = [c for c in ('glon_deg', 'glat_deg', 'score', 'peak_prob', 'x_px', 'y_px', 'edge_px') if c in det.columns]
            dd = det[cols].copy()
            mm = crossmatch(det, fgl, a.match_radius)   # counterparts of the region's detections (4FGL taken 2 px wider)
            dd['fgl_name'] = [fgl.Source_Name.iloc[j] if j >= 0 else '' for j in mm.idx_ref]
            dd['sep_deg'] = mm.sep_deg.to_numpy()
            dd.to_csv(RESULTS / 'gc_detections.csv', index=False)
            fgl_m[['Source_Name', 'glon_deg', 'glat_deg', 'Flux1000', 'Signif_Avg', 'CLASS1', 'Extended_Source_Name', 'r95_deg',
                   'flux_3gev_ph_cm2_s', 'sqrt_ts_3gev', 'matched', 'sep_deg']].to_csv(RESULTS / 'gc_4fgl_region.csv', index=False)
            table.to_csv(RESULTS / 'gc_completeness.csv', index=False)
    rec = dict(
        command='nice -n 5 .venv/bin/python studies/galactic_center/gc_train_apply.py ' + ' '.join(argv if argv is not None else sys.argv[1:]),
        date=datetime.datetime.now().isoformat(timespec='seconds'), profile='gc', run_dir=str(out),
        training=dict(train_sky_seeds=train_seeds, val_sky_seeds=val_seeds, rotations_per_sky=a.rotations,
                      max_abs_b_deg=a.max_abs_b, n_train_patches=n_train, n_val_patches=n_val, positive_px_fraction=pos,
                      base_filters=profile.training.base_filters, epochs_run=int(len(hist)), best_epoch=int(best.epoch),
                      val_acc_a_best=float(best.val_acc_a), acc_a_best=float(best.acc_a), val_dice_best=float(best.val_dice),
                      val_precision_best=float(best.val_precision), val_recall_best=float(best.val_recall)),
        simulated_plane_check=dict(sim, match_radius_deg=a.match_radius, edge_margin_px=a.edge_margin_px,
                                   truth=f'simulated sources with expected_ts >= {profile.patches.mask_min_expected_ts}'),
        real_cube=dict(edge_margin_px=a.edge_margin_px, match_radius_deg=a.match_radius,
                       region='patch centred on (0, 0), 8 deg tangent plane, sources >= edge_margin_px inside the edge',
                       **{ev.replace('+', '_plus_'): s for ev, s in real.items()}),
        timing_s=dict(timing, total=round(time.time() - t0, 1)), cpu_count=os.cpu_count())
    atomic_write_text(RESULTS / 'gc_summary.json', json.dumps(rec, indent=1, default=float))
    print(json.dumps(rec, indent=1, default=float))


if __name__ == '__main__':
    main()
