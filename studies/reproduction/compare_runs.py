"""Are two pipeline runs the same? Metrics of every stage and the output files, compared value by value.

Usage: python studies/reproduction/compare_runs.py RUN_A RUN_B OUT_JSON

Ignored as expected to differ: wall and CPU seconds, creation times, paths naming the run directory, the
date/checksum/model-hash headers of FITS files. Tables (CSV, FITS) are compared value by value (NaN equal to NaN) on
their common columns, HDF5 patch stores dataset by dataset, JSON files key by key (ignored keys aside; a profile stored
inside is compared as the resolved profile), profiles as resolved profiles, Keras files by their weights (the file
stores its write time); anything else byte by byte.
"""
import json, sys
from pathlib import Path
import numpy as np
import pandas as pd
from astropy.table import Table
from fermi_nb.config import atomic_write_text

IGNORED_KEYS = ('seconds', 'wall_s', 'cpu_s', 'cpu_s_per_patch', 'cpu_ratio', 'train_seconds', 'seconds_per_sky', 'created')
PATH_KEYS = ('model', 'input', 'catalog', 'detections', 'classical_source', 'profile_yaml')
SKIP_DIRS = {'notebooks', 'state', 'logs', 'figures', 'chunks'}


def _ignored(key: str) -> bool: return key in PATH_KEYS or any(key.endswith(k) for k in IGNORED_KEYS)


def _same_value(a, b) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_ignored(k) or _same_value(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list): return len(a) == len(b) and all(map(_same_value, a, b))
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b): return True
    return a == b


def compare_metrics(a: dict, b: dict) -> dict:
    "Per stage: number of keys compared and the keys that differ (ignored keys aside)."
    out = {}
    for stage in sorted(set(a) | set(b)):
        sa, sb = a.get(stage, {}), b.get(stage, {})
        keys = [k for k in sorted(set(sa) | set(sb)) if not _ignored(k)]
        out[stage] = {'n_compared': len(keys), 'differ': [k for k in keys if not _same_value(sa.get(k), sb.get(k))]}
    return out


def _table(path: Path) -> pd.DataFrame:
    if path.suffix == '.csv': return pd.read_csv(path)
    return Table.read(path, hdu=1).to_pandas()


def same_table(pa: Path, pb: Path) -> tuple[bool, list]:
    "(values equal on the common columns, columns only in one of them)."
    ta, tb = _table(pa), _table(pb)
    common = [c for c in ta.columns if c in tb.columns]
    if len(ta) != len(tb): return False, []
    equal = all(np.array_equal(ta[c].to_numpy(), tb[c].to_numpy(), equal_nan=ta[c].dtype.kind == 'f')
                if ta[c].dtype.kind == 'f' else (ta[c].fillna('').astype(str).to_numpy() == tb[c].fillna('').astype(str).to_numpy()).all()
                for c in common)
    return equal, sorted(set(ta.columns) ^ set(tb.columns))


def same_h5(pa: Path, pb: Path) -> bool:
    "Every dataset of two HDF5 files equal (attributes aside)."
    import h5py
    with h5py.File(pa, 'r') as a, h5py.File(pb, 'r') as b:
        names = []
        a.visit(lambda n: names.append(n) if isinstance(a[n], h5py.Dataset) else None)
        return all(n in b and np.array_equal(a[n][()], b[n][()], equal_nan=a[n].dtype.kind == 'f') for n in names)


def same_profile(text_a: str, text_b: str) -> bool:
    "Two profile YAML texts resolve to the same profile (keys added later with their default values are equal)."
    import dataclasses, yaml
    from fermi_nb.config import profile_from_dict
    resolve = lambda t: dataclasses.asdict(profile_from_dict(yaml.safe_load(t), source='run'))
    return resolve(text_a) == resolve(text_b)


def same_keras(pa: Path, pb: Path) -> bool:
    "Two Keras model files with equal weights."
    import keras
    import fermi_nb.miun, fermi_nb.characterise   # registers the package's custom layers
    wa, wb = keras.saving.load_model(pa, compile=False).get_weights(), keras.saving.load_model(pb, compile=False).get_weights()
    return len(wa) == len(wb) and all(np.array_equal(x, y) for x, y in zip(wa, wb))


def same_json(pa: Path, pb: Path) -> bool:
    a, b = json.loads(pa.read_text()), json.loads(pb.read_text())
    if isinstance(a, dict) and 'profile_yaml' in a and not same_profile(a['profile_yaml'], b.get('profile_yaml', '')): return False
    return _same_value(a, b)


SAME_BY_SUFFIX = {'.h5': same_h5, '.keras': same_keras, '.json': same_json,
                  '.yaml': lambda pa, pb: same_profile(pa.read_text(), pb.read_text())}


def compare_files(ra: Path, rb: Path) -> dict:
    "Output files of run B against run A: identical bytes, equal tables, different, missing."
    res = {'identical': 0, 'equal_table': [], 'equal_content': [], 'different': [], 'missing_in_a': [], 'column_changes': {}}
    for fb in sorted(rb.rglob('*')):
        rel = fb.relative_to(rb)
        if not fb.is_file() or SKIP_DIRS & set(rel.parts) or rel.parts[0] == 'metrics' or rel.name == 'metrics.json': continue
        fa = ra / rel
        if not fa.is_file(): res['missing_in_a'].append(str(rel)); continue
        if fa.read_bytes() == fb.read_bytes(): res['identical'] += 1; continue
        if fb.suffix in ('.csv', '.fits'):
            equal, cols = same_table(fa, fb)
            if equal:
                res['equal_table'].append(str(rel))
                if cols: res['column_changes'][str(rel)] = cols
                continue
        if fb.suffix in SAME_BY_SUFFIX and SAME_BY_SUFFIX[fb.suffix](fa, fb): res['equal_content'].append(str(rel)); continue
        res['different'].append(str(rel))
    return res


def main(run_a, run_b, out):
    ra, rb = Path(run_a), Path(run_b)
    metrics = compare_metrics(json.loads((ra / 'metrics.json').read_text()), json.loads((rb / 'metrics.json').read_text()))
    files = compare_files(ra, rb)
    res = {'run_a': ra.name, 'run_b': rb.name, 'metrics': metrics, 'files': files,
           'metrics_identical': all(not m['differ'] for m in metrics.values())}
    for stage, m in metrics.items(): print(f"{stage:18s} {m['n_compared']:4d} metrics compared, differ: {m['differ'] or 'none'}")
    print(f"files: {files['identical']} identical, {len(files['equal_table'])} equal tables "
          f"(column changes: {files['column_changes'] or 'none'}), {len(files['equal_content'])} equal content "
          f"(HDF5 datasets, model weights, JSON, resolved profiles), different: {files['different'] or 'none'}")
    atomic_write_text(out, json.dumps(res, indent=1) + '\n')


if __name__ == '__main__':
    if len(sys.argv) != 4: sys.exit(__doc__)
    main(*sys.argv[1:])
