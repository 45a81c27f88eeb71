"""Is the operating point what loses the bright real-plane sources?

A finished real573w run's saved real-sky probability maps localised again at probability thresholds from 0.5 to 0.05
(the run's own choice is one of them): for each, the completeness of the 4FGL-DR2 sources with expected TS >= 25
(extended ones with their size) per |b| band, the matched fraction per band (0.5 deg rule) and the completeness at
matched fraction 0.95, the list cut by peak probability (no characterisation: the re-localised candidates are new).

Usage: FERMI_NB_DATA=... python studies/bright_misses/bright_vs_threshold.py RUN_DIR [LABEL]
Writes results/bright_vs_threshold_<LABEL>.json."""
import sys, json
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'real_sky'))
from seed_ensemble import summary   # noqa: E402  (bright-source completeness, matched fraction, equal-purity cells)
from fermi_nb.config import load_profile, atomic_write_text   # noqa: E402
from fermi_nb.catalog import load_4fgl   # noqa: E402
from fermi_nb.patching import PatchGeometry   # noqa: E402
from fermi_nb.localisation import localise   # noqa: E402
from fermi_nb.localisation_files import load_prob_maps, with_prob_threshold, run_localisation_profile   # noqa: E402
from fermi_nb.realsky import expected_ts_4fgl   # noqa: E402

THRESHOLDS = (0.5, 0.4, 0.3, 0.2, 0.1, 0.05)
RESULTS = Path(__file__).resolve().parent / 'results'

def main(run, label=None):
    run = Path(run); label = label or run.name
    p = run_localisation_profile(load_profile(run / 'profile.yaml'), run)
    fgl = load_4fgl(profile=p); fgl_ts = fgl.assign(expected_ts=expected_ts_4fgl(p)['expected_ts'].to_numpy())
    prob, pids = load_prob_maps(run / 'real_sky' / 'prob.npz'); geom = PatchGeometry.build(p)
    res = {'run': run.name, 'operating_point': p.localisation.prob_threshold, 'thresholds': {}}
    for t in THRESHOLDS:
        q = with_prob_threshold(p, t)
        s = summary(localise(prob, geom, q, patch_ids=pids).reset_index(drop=True), 'peak_prob', fgl, fgl_ts, q)
        res['thresholds'][f'{t:g}'] = s
        print(f"prob {t:g}: {s['n_det']} detections, TS>=25 found {s['bright_ts25']['|b|>10']:.3f} / {s['bright_ts25']['|b|<10']:.3f}, "
              f"matched {s['matched']['|b|>10']:.3f} / {s['matched']['|b|<10']:.3f} (|b|>10 / |b|<10)", flush=True)
    atomic_write_text(RESULTS / f'bright_vs_threshold_{label}.json', json.dumps(res, indent=1))
    return res

if __name__ == '__main__':
    main(*sys.argv[1:3])
