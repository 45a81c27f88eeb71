"""What are the FAKE detections of a run's simulated test skies (issue 7)?

Usage: python studies/characterisation/characterisation_fake_anatomy.py RUN_DIR [OUT_JSON]

For each FAKE (no true source claimed it within the match radius r, one to one, brightest first):
  duplicate   — a matched source with expected TS >= DETECTABLE_TS (25) lies within 2r (a second detection of a found source);
  mislocated  — an unmatched source with expected TS >= MISLOCATED_MIN_TS (9, 3σ) lies within 2r (a real source found > r away);
  no source   — neither (a background fluctuation, or a blend of sources each below TS 9).
and the fraction of true detections with a lower p_real than the fake (the real detections a p_real cut must give up
to call that fake FAKE)."""
import sys, json
from pathlib import Path
import numpy as np, pandas as pd, yaml
from fermi_nb.config import atomic_write_text
from astropy.table import Table
from fermi_nb.localisation import angular_sep_deg
from fermi_nb.source_images import FAKE
from fermi_nb.characterise import DETECTABLE_TS

MISLOCATED_MIN_TS = 9.0   # 3σ: a source the data could show, left unmatched

run = Path(sys.argv[1])
prof = yaml.safe_load((run / 'profile.yaml').read_text())
r, lat_split = prof['localisation']['match_radius_deg'], prof['real_data']['lat_split_deg']
t = pd.read_csv(run / 'characterisation' / 'test_characterised.csv')
true_p = np.sort(t.loc[t.true_label != FAKE, 'p_real'].to_numpy())
rows = []
for seed, g in t.groupby('sky_seed'):
    src = Table.read(run / 'simulate' / 'test' / f'sky_{seed:05d}' / 'sources.fits').to_pandas()
    sl, sb, ets = src.glon_deg.to_numpy(), src.glat_deg.to_numpy(), src.expected_ts.to_numpy()
    matched = np.isin(src.source_id.to_numpy(), g.loc[g.true_label != FAKE, 'true_source_id'].to_numpy())
    for _, d in g[g.true_label == FAKE].iterrows():
        sep = angular_sep_deg(d.glon_deg, d.glat_deg, sl, sb); near = sep < 2 * r
        kind = ('duplicate' if (near & matched & (ets >= DETECTABLE_TS)).any() else
                'mislocated' if (near & ~matched & (ets >= MISLOCATED_MIN_TS)).any() else 'no source')
        rows.append(dict(sky_seed=seed, kind=kind, p_real=d.p_real, score=d.get('score', np.nan), glat_deg=d.glat_deg,
                         true_below=np.searchsorted(true_p, d.p_real) / len(true_p)))
f = pd.DataFrame(rows)
summ = f.groupby('kind').agg(n=('p_real', 'size'), median_p_real=('p_real', 'median'),
                             median_true_below=('true_below', 'median'), median_score=('score', 'median'),
                             frac_plane=('glat_deg', lambda b: float(np.mean(np.abs(b) < lat_split))))
summ['fraction'] = summ['n'] / len(f)
print(f'match radius {r} deg; {len(f)} fakes, {len(true_p)} true detections')
print(summ.round(4).to_string())
# FAKE recall reachable at a given loss of true detections, per kind
recall = {}
for loss in (0.01, 0.02, 0.05):
    thr = np.quantile(true_p, loss); recall[f'{loss:g}'] = round(float((f.p_real < thr).mean()), 4)
    print(f'cut losing {loss:.0%} of true detections (p_real < {thr:.4f}): FAKE recall',
          recall[f'{loss:g}'], {k: round(float((g.p_real < thr).mean()), 3) for k, g in f.groupby('kind')})
out = {'run': str(run), 'match_radius_deg': r, 'n_fake': len(f), 'n_true': int(len(true_p)),
       'by_kind': summ.round(4).reset_index().to_dict('records'), 'fake_recall_at_true_loss': recall}
if len(sys.argv) > 2: atomic_write_text(sys.argv[2], json.dumps(out, indent=1))
print(json.dumps(out))
