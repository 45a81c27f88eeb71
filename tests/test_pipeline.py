"End to end: the runner executes every stage on the tiny profile; resume; docs site from the executed notebooks."
import json, os, shutil, signal, subprocess, sys, time
import numpy as np
from pathlib import Path
import pytest
from fermi_nb.runner import run_pipeline, STAGES, RunError
from fermi_nb.config import ProfileError

TINY = Path(__file__).parent / 'profiles' / 'tiny.yaml'
ROOT = Path(__file__).resolve().parent.parent
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

def test_baseline_stage_at_equal_purity_with_resumable_chunks(run_dir):
    "32_baseline in a run: both methods per |b| band and flux cut at equal purity, the TS map's chunks kept for resume."
    import pandas as pd
    m = json.loads((run_dir / 'metrics' / 'baseline.json').read_text())
    ep = pd.read_csv(run_dir / 'baseline' / 'equal_purity.csv')
    assert set(ep.method) == {'baseline', 'miun'} and set(ep.level) == {0.9, 0.95, 0.98}
    row = ep[(ep.method == 'miun') & (ep.level == 0.95) & ep.band.str.startswith('|b|>') & (ep.flux_min == 3e-10)].iloc[0]
    assert np.isclose(m['ep_miun_highb_3e-10_p0.95'], row.completeness, equal_nan=True)
    recs = [json.loads(p.read_text()) for p in sorted((run_dir / 'baseline' / 'chunks').glob('chunk_*.json'))]
    assert sum(len(r['patch_ids']) for r in recs) == m['n_patches'] and all(len(r['cpu_s']) == len(r['patch_ids']) for r in recs)
    assert m['spread'] is False and m['baseline_cpu_s_per_patch'] > 0

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


def _wait(cond, timeout_s: float, what: str):
    t0 = time.time()
    while not cond():
        if time.time() - t0 > timeout_s: raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.5)


def _sky_arrays(sim_dir: Path) -> dict:
    "Every saved sky of a run: {relative path: {array name: array}} (maps and the source table)."
    from astropy.table import Table
    out = {}
    for maps in sorted(sim_dir.rglob('maps.npz')):
        with np.load(maps) as z: arrays = {k: z[k] for k in z.files}
        tab = Table.read(maps.parent / 'sources.fits')
        arrays.update({f'sources.{c}': np.asarray(tab[c]) for c in tab.colnames})
        out[str(maps.parent.relative_to(sim_dir))] = arrays
    return out


def test_concurrent_run_refused_and_kill_9_resumes_identically(run_dir, tmp_path):
    "A second run on a directory in use is refused; kill -9 during a stage, then the same command resumes and gives the uninterrupted run's skies."
    import psutil
    out = tmp_path / 'killed'
    cmd = [str(EXE), 'run', '--profile', str(TINY), '--out', str(out), '--until', 'simulate', '-p', 'n_workers=1']
    first = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    family = []
    try:
        _wait(lambda: (out / '.lock').exists() and (out / '.lock').read_text().startswith('pid'), 120, 'the first run to lock')
        second = subprocess.run(cmd, capture_output=True, text=True)
        assert second.returncode == 1 and 'is in use by another run' in second.stderr and f'pid {first.pid}' in second.stderr, second.stderr
        _wait(lambda: list((out / 'simulate').rglob('meta.json')), 900, 'the first sky')
        family = psutil.Process(first.pid).children(recursive=True)   # the stage's kernel
        os.kill(first.pid, signal.SIGKILL); first.wait()
        _, alive = psutil.wait_procs(family, timeout=20)               # the kernel notices its parent died
        for p in alive: p.kill()
    finally:
        if first.poll() is None: first.kill(); first.wait()
    assert not (out / 'state' / 'simulate.json').exists(), 'the kill came after the stage completed'
    assert (out / '.lock').read_text().startswith(f'pid {first.pid}')   # what a killed run leaves
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-2000:]
    log = (out / 'run.log').read_text()
    assert f'cleared the stale lock of a run that was killed (pid {first.pid}' in log and 'simulate: done' in log
    assert not [p for p in out.rglob('*') if p.name.startswith('.') and p.name != '.lock'], 'partial files left'
    reference, resumed = _sky_arrays(run_dir / 'simulate'), _sky_arrays(out / 'simulate')
    assert sorted(resumed) == sorted(reference) and len(reference) == 4
    for sky, arrays in reference.items():
        assert sorted(resumed[sky]) == sorted(arrays)
        for name, a in arrays.items():   # floats to the last bits only: a sky made in another process may differ by 1 ulp
            if a.dtype.kind == 'f': np.testing.assert_allclose(resumed[sky][name], a, rtol=1e-12, atol=0, err_msg=f'{sky} {name}')
            else: np.testing.assert_array_equal(resumed[sky][name], a, err_msg=f'{sky} {name}')


def test_installed_wheel_runs_its_own_pipeline(tmp_path):
    "A wheel installed in a fresh virtual environment outside the repository runs the pipeline from the notebooks it ships."
    import sysconfig
    wheels = tmp_path / 'wheels'
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(wheels), str(ROOT)],
                   check=True, capture_output=True, cwd=tmp_path)
    wheel = next(wheels.glob('fermi_nb-*.whl'))
    venv = tmp_path / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True)
    site = next((venv / 'lib').glob('python3*/site-packages'))
    (site / 'shared_deps.pth').write_text(sysconfig.get_paths()['purelib'] + '\n')   # reuse the dependencies, not fermi_nb
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'VIRTUAL_ENV')}
    subprocess.run([str(venv / 'bin' / 'python'), '-m', 'pip', 'install', '--no-deps', '-q', str(wheel)], check=True, env=env,
                   capture_output=True, cwd=tmp_path)
    where = subprocess.run([str(venv / 'bin' / 'python'), '-c', 'import fermi_nb; print(fermi_nb.__file__)'], env=env,
                           capture_output=True, text=True, cwd=tmp_path, check=True).stdout.strip()
    assert where.startswith(str(site)), where
    profile = tmp_path / 'tiny.yaml'; shutil.copy(TINY, profile)
    proc = subprocess.run([str(venv / 'bin' / 'fermi-nb'), 'run', '--profile', str(profile), '--out', str(tmp_path / 'run'),
                           '--until', 'patching'], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (tmp_path / 'run' / 'run.log').read_text()
    assert f"notebooks from {site / 'fermi_nb' / '_nbs'}" in log and 'patching: done' in log
    assert (tmp_path / 'run' / 'patching' / 'train' / 'patches.h5').exists()
