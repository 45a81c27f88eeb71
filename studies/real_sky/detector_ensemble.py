"""An ensemble of real573w detectors (issue 8): the probability maps of several trained MIUNs averaged.

Two runs of the same profile that differ only in `training.seed` reach different real-plane completeness (±0.02,
52_real_sky). This bench measures whether averaging their test-time-augmented probability maps (8 rotations /
reflections each) narrows that, with the operating-point rule of `real573w_operating_point.py` (lowest threshold of
0.5 … 0.1 keeping the chance-corrected purity ≥ 0.95 in both |b| bands on a simulated test sky — here the test sky
of the first run, which none of the runs trained on). Rows: each run's detector alone and the average, per
threshold, on the simulated sky and on the real map (reported, not used for the choice).

Usage: FERMI_NB_DATA=... python studies/real_sky/detector_ensemble.py OUT_JSON RUN_DIR RUN_DIR [RUN_DIR ...]
"""
import json, sys, time
from pathlib import Path
import numpy as np
sys.path.insert(0, str(Path(__file__).resolve().parent))
from operating_point import THRESHOLDS, MIN_SIM_PURITY, threshold_row, lowest_passing   # noqa: E402
from fermi_nb.config import load_profile, atomic_write_text   # noqa: E402
from fermi_nb.patching import PatchGeometry   # noqa: E402
from fermi_nb.catalog import load_4fgl   # noqa: E402
from fermi_nb.data import real_counts_maps   # noqa: E402
from fermi_nb.realsky import simulated_test_counts   # noqa: E402
from fermi_nb.miun import load_miun, predict_patches   # noqa: E402


def main(out, run_dirs):
    run_dirs = [Path(r) for r in run_dirs]; t0 = time.time()
    p = load_profile(str(run_dirs[0] / 'profile.yaml')); rd = p.real_data; geom = PatchGeometry.build(p)
    sim, truth, sim_counts = simulated_test_counts(run_dirs[0], p, seed=0)
    patches = {k: geom.cut([np.asarray(m, np.float32) for m in v]) for k, v in {'sim': sim_counts, 'real': real_counts_maps(p)}.items()}
    probs = {}
    for r in run_dirs:
        model = load_miun(r / 'miun' / 'model.keras')
        probs[r.name] = {k: predict_patches(model, v, 64, 8) for k, v in patches.items()}
        print(f'{r.name}: predicted ({time.time() - t0:.0f} s)', flush=True)
    probs['mean of ' + '+'.join(r.name for r in run_dirs)] = {k: np.mean([probs[r.name][k] for r in run_dirs], 0) for k in patches}
    fgl = load_4fgl(profile=p); rows, chosen = [], {}
    for name, prob in probs.items():
        for pt in THRESHOLDS:
            row = {'detector': name, **threshold_row(prob, geom, run_dirs[0] / 'profile.yaml', pt, truth, fgl, rd)}
            print(row, flush=True); rows.append(row)
        chosen[name] = lowest_passing([r for r in rows if r['detector'] == name])
    res = {'runs': [str(r) for r in run_dirs], 'sim_sky_seed': int(sim.seed), 'tta_symmetries': 8,
           'criterion': f'lowest prob_threshold of {list(THRESHOLDS)} with chance-corrected purity >= {MIN_SIM_PURITY} in both |b| bands',
           'chosen': chosen, 'rows': rows, 'seconds': round(time.time() - t0, 1)}
    atomic_write_text(out, json.dumps(res, indent=1))
    print('chosen prob_threshold:', chosen)


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2:])
