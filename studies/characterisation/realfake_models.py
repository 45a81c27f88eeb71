"""Real/fake models compared on the detector's own detections of a finished pipeline run (issue 7).

Trains, on the labelled detections of the run's training skies (validation skies for early stopping), and scores by
ROC AUC on its test skies: the CNN of 41 before this change (as built by `build_network`, balanced class weights), the
same with all 8 rotations/reflections of the fakes, the logistic
regression that 41 now uses (`fit_logistic`), gradient boosting on the same features, and the logistic regression on
radial profiles (four annuli per energy bin). Also the logistic model's AUC against true positives of sources with
expected TS >= 9 only (how much of the gap is matches to sources too faint to be seen).

Usage: FERMI_NB_DATA=... python studies/characterisation/realfake_models.py RUN_DIR [OUT_JSON]
"""
import json, sys, time
from pathlib import Path
import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from characterise_group_heads import split_arrays   # noqa: E402
from fermi_nb.config import load_profile, atomic_write_text   # noqa: E402
from fermi_nb import characterise as C   # noqa: E402


def features(x):
    return np.concatenate([x['scalars'][:, :C.N_BASE_SCALARS], x['photometry']], 1)


def radial(images, n_bins, edges=(0, 0.5, 1.5, 2.5, 10)):
    S = images.shape[1]; c = S // 2; yy, xx = np.mgrid[:S, :S]; r = np.hypot(yy - c, xx - c)
    im = images[..., :n_bins]
    return np.concatenate([np.log1p(im[:, (r >= a) & (r < b)].sum(1)) for a, b in zip(edges[:-1], edges[1:])], 1)


def cnn(profile, x_tr, y_tr, x_va, y_va, augment=False, seed=14):
    keras = C._keras()
    if augment:
        f = np.where(y_tr == 0)[0]; xf, yf = C.all_square_symmetries(C._take(x_tr, f), y_tr[f])
        x_tr = {k: np.concatenate([x_tr[k], xf[k][len(f):]]) for k in x_tr}; y_tr = np.concatenate([y_tr, yf[len(f):]])
    C._seed(seed)
    net = C._build(profile, x_tr['image'].shape[-1], 1, 'realfake_cnn')
    return C.fit_network(net, keras.losses.BinaryCrossentropy(from_logits=True), x_tr, y_tr, x_va, y_va, profile,
                         class_weight=C._balanced_weights(y_tr.astype(int), 2))


def main(run_dir, out):
    run_dir = Path(run_dir); profile = load_profile(str(run_dir / 'profile.yaml')); t0 = time.time()
    arr = {s: split_arrays(run_dir, s, profile, 7) for s in ('train', 'val', 'test')}
    fake = C.class_names(profile).index(C.FAKE)
    x = {s: C._latitude_only(C.model_inputs(a['images'], a['latitude'], a['subpix'], profile.n_bins, a['detector'])) for s, a in arr.items()}
    y = {s: (a['y_class'] != fake).astype(np.float32) for s, a in arr.items()}
    auc = lambda z: float(roc_auc_score(y['test'], z))
    res = {'n': {s: {'detections': int(len(v)), 'fakes': int((v == 0).sum())} for s, v in y.items()}, 'auc_test': {}}
    A = res['auc_test']
    A['detector disk score alone'] = auc(arr['test']['detector'][:, 1])
    A['CNN (41 before)'] = auc(C._predict(cnn(profile, x['train'], y['train'], x['val'], y['val']), x['test'])[:, 0])
    A['CNN, fakes x8 rotations/reflections'] = auc(C._predict(cnn(profile, x['train'], y['train'], x['val'], y['val'], augment=True), x['test'])[:, 0])
    rf = C.fit_logistic(C.build_realfake(profile, x['train']['photometry'].shape[1]), x['train'], y['train'])
    z_lr = C._predict(rf, x['test'])[:, 0]; A['logistic regression (41 now)'] = auc(z_lr)
    g = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05, max_leaf_nodes=15, l2_regularization=1.0,
                                       random_state=0).fit(features(x['train']), y['train'])
    A['gradient boosting, same features'] = auc(g.predict_proba(features(x['test']))[:, 1])
    fr = lambda s: np.c_[x[s]['scalars'][:, :C.N_BASE_SCALARS], radial(arr[s]['images'], profile.n_bins)]
    lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, class_weight='balanced')).fit(fr('train'), y['train'])
    A['logistic regression, radial profiles'] = auc(lr.decision_function(fr('test')))
    ts = arr['test']['expected_ts']; keep = ~((y['test'] > 0) & (ts < 9))
    res['logistic_auc_vs_true_positives_ts9'] = float(roc_auc_score(y['test'][keep], z_lr[keep]))
    res['n_true_positives_ts_below_9'] = int(((y['test'] > 0) & (ts < 9)).sum())
    res.update(run_dir=Path(run_dir).name, seconds=round(time.time() - t0, 1))
    print(json.dumps(res, indent=1))
    atomic_write_text(out, json.dumps(res, indent=1))


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else Path(__file__).resolve().parent / 'results' / 'realfake_models_lat6.json')
