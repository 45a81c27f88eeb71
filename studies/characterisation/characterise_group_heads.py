"""Three-group (extragalactic / Galactic / FAKE) decision: class-network variants on the detector's own counts.

Trains, on the labelled detections of a finished pipeline run (its train / val / test skies, images cut from the counts
the detector saw), several classifier variants and scores the three-group balanced accuracy on the test skies:
the 5-class network as in 41 (minority rotations), the 5-class network with all 8 rotations/flips of every image, and a
direct 3-group head (balanced group weights, 8 rotations/flips); each with the decision rules of 41.

Usage: FERMI_NB_DATA=... python studies/characterisation/characterise_group_heads.py RUN_DIR [OUT_JSON]
"""
import json, sys, time
from pathlib import Path
import numpy as np
from sklearn.metrics import balanced_accuracy_score

from fermi_nb.config import load_profile
from fermi_nb.localisation_files import read_manifest
from fermi_nb.patching import PatchStore
from fermi_nb.source_images import DetectorPatches, read_labelled, run_sky, FAKE
from fermi_nb import characterise as C


def split_arrays(run_dir, split, profile, seed):
    lab = read_labelled(run_dir, split); man = {int(e['sky_seed']): e for e in read_manifest(run_dir)['splits'][split]}
    store = PatchStore(Path(run_dir) / 'patching' / split / 'patches.h5')
    dps, dets = [], []
    for s in sorted(lab.sky_seed.unique()):
        e = man[int(s)]
        dps.append(DetectorPatches.from_store(store, e['sky_index'], e['poisson_seed'], run_sky(run_dir, split, s)))
        dets.append(lab[lab.sky_seed == s].reset_index(drop=True))
    return C.prepare_arrays(dps, dets, profile, np.random.default_rng(seed))


def main(run_dir, out_json):
    run_dir = Path(run_dir); profile = load_profile(run_dir / 'profile.yaml'); t0 = time.time()
    models = C.load_characterisation(run_dir / 'characterisation' / 'models', profile)
    cal = models.calibration; classes = cal['classes']; fake = classes.index(FAKE)
    groups = ['extragalactic', 'Galactic', FAKE]; to_g = np.array([groups.index(C.GROUPS[c]) for c in classes])
    arr = {s: split_arrays(run_dir, s, profile, 7) for s in ('train', 'val', 'test')}
    x = {s: C.model_inputs(a["images"], a["latitude"], a["subpix"], profile.n_bins, a["detector"]) for s, a in arr.items()}
    y = {s: a['y_class'] for s, a in arr.items()}; yg = {s: to_g[v] for s, v in y.items()}
    p_real = {s: C.predict_arrays(models, x[s], profile)['p_real'] for s in ('val', 'test')}
    keras = C._keras(); res = {}

    def score(name, p_val, p_test, three=False):
        "Decision rules on the test skies from class (or group) probabilities p."
        out = {}
        if three:
            out['argmax of the head'] = balanced_accuracy_score(yg['test'], p_test.argmax(1))
            # real groups from the head, FAKE from p_real at the working threshold
            r = p_test[:, :2].argmax(1); out['FAKE from p_real (working threshold), else head'] = balanced_accuracy_score(
                yg['test'], np.where(p_real['test'] >= cal['threshold_real'], r, 2))
        else:
            comb = {s: C.combine_classes(p, p_real[s], classes) for s, p in (('val', p_val), ('test', p_test))}
            out['class network alone'] = balanced_accuracy_score(yg['test'], C.group_probabilities(p_test, classes)[0].argmax(1))
            for tn in ('threshold_real', 'threshold_youden'):
                thr = cal[tn]
                off = C.fit_galactic_offset(comb['val'], p_real['val'], y['val'], thr, classes)
                for o in (0.0, off):
                    pred = C.class_decision(comb['test'], p_real['test'], thr, classes, o)
                    out[f'{tn} {thr:.3f}, Galactic offset {o:+.2f}'] = balanced_accuracy_score(yg['test'], to_g[pred])
        res[name] = {k: round(float(v), 4) for k, v in out.items()}
        print(name, res[name], f'{time.time() - t0:.0f} s', flush=True)

    xl = {s: C._latitude_only(v) for s, v in x.items()}
    # 1. the 41 class network (minority rotations)
    net = C.train_classifier(profile, x['train'], y['train'], x['val'], y['val'], len(classes), 13)
    P = {s: C._softmax(C._predict(net, xl[s]) / C.fit_temperature(C._predict(net, xl['val']), y['val'])) for s in ('val', 'test')}
    score('5 classes, minority rotations (41)', P['val'], P['test'])
    # 2. 5 classes, all 8 rotations/flips
    xa, ya = C.all_square_symmetries(xl['train'], y['train'])
    C._seed(13); net = C._build(profile, xa['image'].shape[-1], len(classes), 'class8')
    net = C.fit_network(net, keras.losses.SparseCategoricalCrossentropy(from_logits=True), xa, ya, xl['val'], y['val'],
                        profile, 13, C._balanced_weights(ya, len(classes)))
    T = C.fit_temperature(C._predict(net, xl['val']), y['val'])
    P = {s: C._softmax(C._predict(net, xl[s]) / T) for s in ('val', 'test')}
    score('5 classes, 8 rotations/flips of every image', P['val'], P['test'])
    # 3. direct 3-group head, balanced group weights, 8 rotations/flips
    xa, ga = C.all_square_symmetries(xl['train'], yg['train'])
    C._seed(17); net = C._build(profile, xa['image'].shape[-1], 3, 'group3')
    net = C.fit_network(net, keras.losses.SparseCategoricalCrossentropy(from_logits=True), xa, ga, xl['val'], yg['val'],
                        profile, 17, C._balanced_weights(ga, 3))
    T = C.fit_temperature(C._predict(net, xl['val']), yg['val'])
    P = {s: C._softmax(C._predict(net, xl[s]) / T) for s in ('val', 'test')}
    score('3 groups directly, balanced, 8 rotations/flips', P['val'], P['test'], three=True)
    res['run_dir'] = Path(run_dir).name; res['seconds'] = round(time.time() - t0, 1)
    res['n'] = {s: int(len(v)) for s, v in y.items()}
    Path(out_json).parent.mkdir(parents=True, exist_ok=True); Path(out_json).write_text(json.dumps(res, indent=1))


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else 'studies/characterisation/results/characterise_group_heads_quick.json')
