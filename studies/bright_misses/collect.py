"""Markdown tables of several bright_misses.py results side by side (for the README): completeness of the expected-TS
>= 25 sources per |b| band and expected-TS bin with the references on the same sources, and the misses per cause.

Usage: python studies/bright_misses/collect.py LABEL [LABEL ...]   (reads results/causes_<LABEL>.json)"""
import sys, json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / 'results'
esc = lambda text: text.replace('|', '\\|')   # '|b|' inside a Markdown table cell

def main(*labels):
    res = {l: json.loads((RESULTS / f'causes_{l}.json').read_text()) for l in labels}
    first = res[labels[0]]; bands = list(first['completeness_ts25_by_band'])
    bins = list(first['completeness_by_ts'])
    print('| list | ' + ' | '.join(esc(f'{b} all') for b in bands) + ' | ' + ' | '.join(esc(k) for k in bins) + ' | missed |')
    print('|---' * (2 + len(bands) + len(bins)) + '|')
    for l, r in res.items():
        print(f'| DL {l} | ' + ' | '.join(f"{r['completeness_ts25_by_band'][b]:.3f}" for b in bands) + ' | '
              + ' | '.join(f"{r['completeness_by_ts'][k]['completeness']:.3f}" for k in bins) + f" | {r['n_missed']} of {r['n_bright']} |")
    for name, ref in first['completeness_ts25_references'].items():
        if name != 'DL': print(f'| {name} | ' + ' | '.join(f'{ref[b]:.3f}' for b in bands) + ' |' + ' |' * len(bins) + ' |')
    print()
    causes = list(first['causes'])
    print('| cause (first flag), ' + esc(' / '.join(bands)) + ' | ' + ' | '.join(labels) + ' |')
    print('|---' * (1 + len(labels)) + '|')
    for c in causes:
        print(f'| {c} | ' + ' | '.join(' / '.join(str(res[l]['causes'][c][b]) for b in bands) for l in labels) + ' |')
    print('| TS map (sqrt TS >= 5) / classical find | ' + ' | '.join(f"{res[l]['ts_map_finds_missed']} / {res[l]['classical_finds_missed']}" for l in labels) + ' |')
    print('| extended, DL detection inside the template r68 | ' + ' | '.join(' / '.join(str(res[l]['extended_missed_with_dl_in_template'][b]) for b in bands) for l in labels) + ' |')

if __name__ == '__main__':
    main(*sys.argv[1:])
