"End to end: the runner executes every stage on the tiny profile; resume; docs site from the executed notebooks."
import json, os, shutil, subprocess, sys
from pathlib import Path
import pytest
from fermi_nb.runner import run_pipeline, STAGES, RunError
from fermi_nb.config import ProfileError

TINY = Path(__file__).parent / 'profiles' / 'tiny.yaml'
EXE = Path(sys.executable).parent / 'fermi-nb'

_RUN = {}   # the run happens once per session; a failure is reported once, not re-run for every test

@pytest.fixture(scope='module')
def run_dir(tmp_path_factory):
    if 'error' in _RUN: pytest.fail(_RUN['error'])
    if 'dir' not in _RUN:
        out = tmp_path_factory.mktemp('run') / 'tiny'
        proc = subprocess.run([str(EXE), 'run', '--profile', str(TINY), '--out', str(out)], capture_output=True, text=True)
        print(proc.stdout[-3000:], proc.stderr[-3000:])
        if proc.returncode != 0:
            _RUN['error'] = f"the tiny pipeline run failed: {proc.stderr[-2000:]}"; pytest.fail(_RUN['error'])
        _RUN['dir'] = out
    return _RUN['dir']

def test_every_simulated_stage_ran(run_dir):
    simulated = [s for s in STAGES if not s.needs_real_data]
    for st in simulated:
        assert (run_dir / 'state' / f'{st.name}.json').exists(), st.name
        assert (run_dir / 'notebooks' / st.notebook).exists(), st.notebook
    metrics = json.loads((run_dir / 'metrics.json').read_text())
    assert {'simulate', 'patching', 'miun', 'evaluation', 'characterisation', 'catalog'} <= set(metrics)

def test_detector_beats_chance(run_dir):
    ev = json.loads((run_dir / 'metrics' / 'evaluation.json').read_text())
    assert ev['completeness'] > 0.1 and ev['purity'] > 0.3, ev

def test_operating_point_chosen_on_validation_skies(run_dir):
    "threshold_rule 'validation': the choice follows the recorded table and is the threshold the test skies were localised with."
    op = json.loads((run_dir / 'localisation' / 'operating_point.json').read_text())
    rows = op['rows']
    assert [r['prob_threshold'] for r in rows] == [0.5, 0.3] and op['prob_threshold'] in (0.5, 0.3)
    worst = {r['prob_threshold']: min(r['highb_purity_cc'], r['lowb_purity_cc']) for r in rows}
    passing = [t for t, w in worst.items() if w >= op['min_purity']]
    assert op['prob_threshold'] == (min(passing) if passing else max(worst, key=worst.get))
    assert all(r['highb_n_det'] + r['lowb_n_det'] > 0 for r in rows)
    assert sum(r['highb_n_det'] + r['lowb_n_det'] for r in rows if r['prob_threshold'] == 0.3) >= \
           sum(r['highb_n_det'] + r['lowb_n_det'] for r in rows if r['prob_threshold'] == 0.5)   # a lower threshold finds more
    man = json.loads((run_dir / 'localisation' / 'manifest.json').read_text())
    loc = json.loads((run_dir / 'metrics' / 'localisation.json').read_text())
    assert man['prob_threshold'] == loc['prob_threshold'] == op['prob_threshold']

def test_catalogue_written(run_dir):
    from fermi_nb.catalog import read_catalog
    fits = sorted((run_dir / 'catalog').glob('*.fits'))
    assert fits, 'no catalogue FITS in the run'
    cat = read_catalog(fits[0])
    assert len(cat) > 10 and str(cat['RAJ2000'].unit) == 'deg' and cat['Source_Name'][0].startswith('1FNB J')

def test_figures_saved(run_dir):
    pngs = list((run_dir / 'figures').glob('*.png'))
    assert len(pngs) >= 5, pngs

def test_resume_reruns_only_missing_stage(run_dir):
    last = [s for s in STAGES if not s.needs_real_data][-1]
    (run_dir / 'state' / f'{last.name}.json').unlink()
    before = (run_dir / 'run.log').read_text()
    run_pipeline(str(TINY), run_dir)
    log = (run_dir / 'run.log').read_text()[len(before):]
    assert f'{last.name}: done' in log
    assert 'simulate: already complete, skipped' in log and 'miun: already complete, skipped' in log

def test_bad_parameters_rejected_before_any_stage(tmp_path):
    for bad in (['-p', 'training.epochz=1'], ['-p', 'no_such_parameter=3'], ['-p', 'nside=[100, 128, 128]']):
        proc = subprocess.run([str(EXE), 'run', '--profile', str(TINY), '--out', str(tmp_path / 'r')] + bad,
                              capture_output=True, text=True)
        assert proc.returncode == 1 and 'fermi-nb run:' in proc.stderr, proc.stderr
        assert not (tmp_path / 'r' / 'state').exists()

def test_docs_site_has_stage_pages_with_figures(run_dir, tmp_path):
    from fermi_nb.docs import build_site
    site = tmp_path / 'site'
    nbs = Path(__file__).resolve().parent.parent / 'nbs'
    stage_nbs = [nbs / s.notebook for s in STAGES if not s.needs_real_data]
    build_site(site, notebooks=[nbs / 'index.ipynb'] + stage_nbs, executed_dir=run_dir / 'notebooks', execute=False)
    for nb in stage_nbs:
        page = (site / f'{nb.stem}.html').read_text()
        assert '<img' in page and '_images/' in page, f'{nb.stem}: no figure on its page'
    assert 'API' in (site / 'api.html').read_text()
