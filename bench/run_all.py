"""Run the speed and memory benchmarks of the pipeline's stages one after another (`make bench`).

Each benchmark is its own script in bench/, runs in a fresh process (so peak-memory numbers are its own), prints
its numbers and writes its JSON into bench/results/. This driver only sequences them and prints a summary of
which ran and how long each took; a failing benchmark is reported and the others still run.

Run: .venv/bin/python bench/run_all.py [--only simulate,patching] [--profile lat6]
The experiments are in studies/ (each with a README); the real573w_* scripts here need a run directory and are not
part of this list; their docstrings give their commands.
"""
import argparse, subprocess, sys, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = {                      # name -> script; each takes --profile and writes bench/results/<name>.json
    'simulate': 'bench_simulate.py',
    'patching': 'bench_patching.py',
    'miun': 'bench_miun.py',
    'localisation': 'bench_localisation.py',
}
TAKES_PROFILE = {'simulate', 'patching', 'miun'}   # bench_localisation has a fixed synthetic lat6 workload


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--only', default='', help=f'comma-separated subset of {",".join(BENCHES)}')
    ap.add_argument('--profile', default='lat6', help='profile passed to the benches that take one')
    a = ap.parse_args(argv)
    names = [n for n in a.only.split(',') if n] or list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        ap.error(f'--only: unknown benchmark(s) {unknown}; expected some of {list(BENCHES)}')
    summary = []
    for name in names:
        cmd = [sys.executable, str(HERE / BENCHES[name])] + (['--profile', a.profile] if name in TAKES_PROFILE else [])
        print(f'== {name}: {" ".join(cmd)}', flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call(cmd)
        summary.append((name, rc, time.perf_counter() - t0))
    print('\n== summary')
    for name, rc, wall_s in summary:
        print(f'{name:14s} {"ok  " if rc == 0 else f"FAIL rc={rc}"} {wall_s:7.1f} s  -> bench/results/{name}.json')
    return int(any(rc != 0 for _, rc, _ in summary))


if __name__ == '__main__':
    sys.exit(main())
