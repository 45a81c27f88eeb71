"""Wall time of `fermi-nb detect --model real573w` on the real 573-week map (no training), including characterisation,
and whether its cross-match with 4FGL-DR2 equals the one in the bundle's model card.

Usage: FERMI_NB_DATA=../shared/data python bench/detect_real573w.py [--threads 2] [--model real573w]
Saves bench/results/detect_real573w.json. The limit of the issue: ≤ 60 s wall on 2 cores.
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default='real573w'); ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--out', default=str(ROOT / 'bench' / 'results' / 'detect_real573w.json'))
    args = ap.parse_args()
    from fermi_nb.data import data_path
    counts = data_path('fermi_573w/fermidata_counts.npy')
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, '-c', 'import sys; from fermi_nb.cli import main; sys.exit(main())', 'detect', '--model', args.model,
               '--counts', str(counts), '--out', tmp]
        env = {**os.environ, 'TF_NUM_INTRAOP_THREADS': str(args.threads), 'TF_NUM_INTEROP_THREADS': str(args.threads),
               'OMP_NUM_THREADS': str(args.threads), 'TF_CPP_MIN_LOG_LEVEL': '2'}
        t0 = time.time()
        run = subprocess.run(['taskset', '-c', ','.join(map(str, range(args.threads))), *cmd], env=env, capture_output=True, text=True)
        wall = time.time() - t0
        load_after = os.getloadavg()
        if run.returncode != 0: sys.exit(f"fermi-nb detect failed:\n{run.stderr[-3000:]}")
        import pandas as pd
        from fermi_nb.bundle import load_bundle
        from fermi_nb.catalog import load_4fgl, report_headline
        from fermi_nb.realsky import crossmatch_reports
        b = load_bundle(args.model)
        det = pd.read_csv(Path(tmp) / 'detections.csv')
        rep = crossmatch_reports(det, load_4fgl(profile=b.profile), b.profile, plot=False)
        ours = report_headline(rep['radius']); card = b.card['real_sky']['dl']
        keys = sorted(set(card) & set(ours))
        diff = {k: (ours[k], card[k]) for k in keys if abs(float(ours[k]) - float(card[k])) > 1e-9}
        stages = [l.replace(tmp, 'DIR') for l in run.stderr.splitlines() if l.startswith('[')]
    result = {'command': f"fermi-nb detect --model {args.model} --counts fermi_573w/fermidata_counts.npy --out DIR",
              'cores': args.threads, 'wall_s': round(wall, 1), 'limit_s': 60, 'within_limit': wall <= 60,
              'n_det': int(len(det)), 'crossmatch_equals_model_card': not diff, 'crossmatch_differences': diff,
              'crossmatch': {k: ours[k] for k in keys}, 'stages': stages,
              'load_average_1min_before_after': [round(load_before[0], 2), round(load_after[0], 2)]}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1, default=float))
    print(json.dumps(result, indent=1, default=float))

if __name__ == '__main__': main()
