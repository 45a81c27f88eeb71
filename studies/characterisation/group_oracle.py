"""Extragalactic vs Galactic among the true detections of a run's simulated test skies (issue 7), from the TRUE properties of the
matched sources (noise-free): how separable are the groups if every measurement were perfect?
Usage: python studies/characterisation/group_oracle.py RUN_DIR [OUT_JSON]"""
import sys, json
from pathlib import Path
import numpy as np, pandas as pd
from fermi_nb.config import atomic_write_text
from astropy.table import Table
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import cross_val_predict, GroupKFold, StratifiedKFold
from sklearn.metrics import balanced_accuracy_score
from fermi_nb.source_images import FAKE
from fermi_nb.characterise import GROUPS
run = Path(sys.argv[1])
t = pd.read_csv(run / 'characterisation' / 'test_characterised.csv')
t = t[t.true_label != FAKE]
parts = []
for seed, g in t.groupby('sky_seed'):
    src = Table.read(run / 'simulate' / 'test' / f'sky_{seed:05d}' / 'sources.fits').to_pandas().set_index('source_id')
    s = src.loc[g.true_source_id.to_numpy()].reset_index()
    parts.append(s.assign(sky_seed=seed, group_pred=g.group_pred.to_numpy()))
s = pd.concat(parts, ignore_index=True)
cls = s['cls'].str.decode('utf-8') if isinstance(s['cls'].iloc[0], bytes) else s['cls']
y = (cls.map(GROUPS) == 'Galactic').to_numpy().astype(int)
counts = s[[c for c in s.columns if c.startswith('counts_bin')]].to_numpy(float)
years = s[[c for c in s.columns if c.startswith('year_factor_')]].to_numpy(float)
feats = {
  'latitude only': np.c_[np.abs(np.sin(np.radians(s.glat_deg)))],
  'latitude + true spectrum': np.c_[np.abs(np.sin(np.radians(s.glat_deg))), np.log10(counts + 1e-3), np.log10(s.s1_ph_cm2_s)],
  'latitude + true spectrum + true light curve': np.c_[np.abs(np.sin(np.radians(s.glat_deg))), np.log10(counts + 1e-3),
                                                      np.log10(s.s1_ph_cm2_s), years.std(1), years.max(1)],
}
cv = GroupKFold(5) if s.sky_seed.nunique() >= 5 else StratifiedKFold(5, shuffle=True, random_state=0)
out = {'n_true': int(len(y)), 'galactic_fraction': float(y.mean())}
for name, X in feats.items():
    w = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    p = cross_val_predict(HistGradientBoostingClassifier(max_iter=300, learning_rate=0.1), X, y, cv=cv, groups=s.sky_seed,
                          method='predict_proba', params={'sample_weight': w})[:, 1]
    out[name] = round(float(balanced_accuracy_score(y, p > 0.5)), 4)
# the pipeline's own call among the same detections (its group head)
out['pipeline group head (measured images)'] = round(float(balanced_accuracy_score(y, (s.group_pred == 'Galactic').to_numpy())), 4)
out['run'] = str(run)
if len(sys.argv) > 2: atomic_write_text(sys.argv[2], json.dumps(out, indent=1))
print(json.dumps(out, indent=1))
