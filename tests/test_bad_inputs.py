"""Bad input as a new user would give it: each case ends with one line naming the culprit, a non-zero exit status, and
nothing half-written or stale left behind. Most cases call the `fermi-nb` entry point in-process (fast); the ones that
are about the process itself (tracebacks, Ctrl-C, locks) run the console script."""
import re, json, os, shutil, signal, subprocess, sys, time
from pathlib import Path
import numpy as np
import pytest
import yaml
from fermi_nb.cli import main
from fermi_nb.config import atomic_write_text, load_profile
from fermi_nb.data import DataError, validate_map, load_map, check_data_files
from fermi_nb.runner import RunDirLock, RunError, RunInterrupted, Stage, run_pipeline, PARTIAL_DIR

ROOT = Path(__file__).resolve().parent.parent
EXE = Path(sys.executable).parent / 'fermi-nb'
TINY = ROOT / 'tests' / 'profiles' / 'tiny.yaml'
SHARED = Path(os.environ.get('FERMI_NB_DATA') or ROOT.parent / 'shared' / 'data')
needs_shared = pytest.mark.skipif(not (SHARED / 'SHA256SUMS').exists(), reason='shared Fermi-LAT data not present')


def cli(capsys, *args):
    "Run `fermi-nb ARGS` in-process: (exit status, stdout, stderr)."
    try: rc = main([str(a) for a in args])
    except SystemExit as e: rc = e.code
    out = capsys.readouterr()
    return rc, out.out, out.err


def one_line_error(err: str, *names):
    "The error is one line (argparse may print its usage above it), names every culprit, and has no traceback."
    assert 'Traceback' not in err, err
    last = err.strip().splitlines()[-1]
    for n in names: assert str(n) in last, (n, last)
    return last


def profile_file(tmp_path, body: str, name='bad') -> Path:
    p = tmp_path / f'{name}.yaml'; p.write_text(f"extends: quick\nname: {name}\n{body}\n"); return p


# ---- profile values: every numeric and enumerated setting is checked when the profile is loaded -----------------------
PROFILE_CASES = [
    ('training:\n  epochs: 0', 'training.epochs=0'),
    ('training:\n  epochs: -3', 'training.epochs=-3'),
    ('training:\n  batch_size: 0', 'training.batch_size=0'),
    ('training:\n  learning_rate: -1e-3', 'training.learning_rate=-0.001'),
    ('instrument:\n  exposure_cm2_s: -3e11', 'instrument.exposure_cm2_s'),
    ('localisation:\n  match_radius_deg: -0.3', 'localisation.match_radius_deg=-0.3'),
    ('localisation:\n  max_group_px: 0', 'localisation.max_group_px=0'),
    ('characterisation:\n  n_flux_members: 0', 'characterisation.n_flux_members=0'),
    ('energy_bins_gev: [[1.0, 3.0], [3.0, 10.0], [10.0, .inf]]', 'energy_bins_gev[2][1]=inf'),
    ('training:\n  loss: dice_bcee', "training.loss='dice_bcee'"),
    ('training:\n  normalisation: log2', "training.normalisation='log2'"),
    ('training:\n  bottleneck_npix: 3', 'training.bottleneck_npix=3'),
    ('characterisation:\n  val_fraction: 1.5', 'characterisation.val_fraction=1.5'),
    ('training:\n  lr_factor: 1.0', 'training.lr_factor=1.0'),
    ('population:\n  density_scale: .nan', 'population.density_scale=nan'),
    ('training:\n  epochs: ten', "'training.epochs' must be an integer"),
    ('training:\n  epochz: 3', "unknown key 'training.epochz'"),
]

@pytest.mark.parametrize('body,culprit', PROFILE_CASES, ids=[c[1] for c in PROFILE_CASES])
def test_profile_value_rejected_at_load(tmp_path, capsys, body, culprit):
    rc, out, err = cli(capsys, 'profiles', 'show', profile_file(tmp_path, body))
    assert rc == 2 and out == ''
    one_line_error(err, culprit, "profile 'bad'")


def test_malformed_yaml_one_line_without_traceback(tmp_path):
    bad = tmp_path / 'broken.yaml'; bad.write_text('extends: quick\ntraining:\n  epochs: [1\n')
    proc = subprocess.run([EXE, 'profiles', 'show', bad], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count('\n') == 1, proc.stderr
    one_line_error(proc.stderr, 'broken.yaml', 'not valid YAML', 'line 4')
    debug = subprocess.run([EXE, '--debug', 'profiles', 'show', bad], capture_output=True, text=True)   # traceback on request
    assert debug.returncode == 2 and 'Traceback' in debug.stderr


def test_non_utf8_profile(tmp_path, capsys):
    bad = tmp_path / 'latin1.yaml'; bad.write_bytes(b'extends: quick\nname: caf\xe9\n')
    rc, _, err = cli(capsys, 'profiles', 'show', bad)
    assert rc == 2; one_line_error(err, 'latin1.yaml', 'not UTF-8')


def test_missing_profile_file_and_unknown_name(tmp_path, capsys):
    rc, _, err = cli(capsys, 'profiles', 'show', tmp_path / 'nowhere.yaml')
    assert rc == 2; one_line_error(err, 'nowhere.yaml', 'does not exist')
    rc, _, err = cli(capsys, 'profiles', 'show', 'qiuck')
    assert rc == 2; one_line_error(err, "unknown profile 'qiuck'", 'quick')


def test_bad_override_refused_before_any_stage(tmp_path, capsys):
    out = tmp_path / 'run'
    rc, _, err = cli(capsys, 'run', '--profile', TINY, '--out', out, '-p', 'training.epochs=0')
    assert rc == 1; one_line_error(err, 'training.epochs=0')
    assert not out.exists()


# ---- command-line options and output paths ----------------------------------------------------------------------------
def test_simulate_negative_seed(tmp_path, capsys):
    rc, _, err = cli(capsys, 'simulate', '--profile', 'quick', '--seed', -5, '--out', tmp_path / 's')
    assert rc == 2; one_line_error(err, '--seed', '-5')
    assert not (tmp_path / 's').exists()


def test_simulate_zero_skies(tmp_path, capsys):
    rc, _, err = cli(capsys, 'simulate', '--n-skies', 0, '--out', tmp_path / 's')
    assert rc == 2; one_line_error(err, '--n-skies'); assert not (tmp_path / 's').exists()


def test_out_naming_an_existing_file(tmp_path, capsys):
    f = tmp_path / 'results.txt'; f.write_text('keep me')
    for cmd in (['simulate', '--profile', 'quick'], ['run', '--profile', TINY]):
        rc, _, err = cli(capsys, *cmd, '--out', f)
        assert rc in (1, 2); one_line_error(err, str(f), 'existing file')
    assert f.read_text() == 'keep me' and sorted(p.name for p in tmp_path.iterdir()) == ['results.txt']


def test_out_below_a_file(tmp_path, capsys):
    f = tmp_path / 'results.txt'; f.write_text('keep me')
    rc, _, err = cli(capsys, 'simulate', '--out', f / 'skies')
    assert rc == 2; one_line_error(err, str(f), 'is a file')


@pytest.mark.skipif(not Path('/sys').is_dir(), reason='needs a read-only /sys (Linux)')
def test_out_in_unwritable_directory(tmp_path, capsys):
    target = Path('/sys/fermi_nb_test_out') if os.geteuid() == 0 else tmp_path / 'ro' / 'out'
    if os.geteuid() != 0: (tmp_path / 'ro').mkdir(); (tmp_path / 'ro').chmod(0o555)
    for cmd in (['simulate'], ['run', '--profile', TINY]):
        rc, _, err = cli(capsys, *cmd, '--out', target)
        assert rc in (1, 2); one_line_error(err, str(target), 'cannot write there')
    assert not target.exists()


def test_run_until_unknown_stage(tmp_path, capsys):
    rc, _, err = cli(capsys, 'run', '--profile', TINY, '--out', tmp_path / 'r', '--until', 'trainig')
    assert rc == 1; one_line_error(err, "--until 'trainig'")
    assert not (tmp_path / 'r').exists()


def test_train_zero_epochs_is_an_error(tmp_path, capsys):
    rc, _, err = cli(capsys, 'train', '--profile', 'quick', '--out', tmp_path / 't', '--epochs', 0)
    assert rc == 2; one_line_error(err, '--epochs', '0')
    assert not (tmp_path / 't').exists()


def test_unknown_command(capsys):
    rc, _, err = cli(capsys, 'simulte')
    assert rc == 2; one_line_error(err, "'simulte'", 'simulate')


# ---- data files -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('value,says', [(None, 'is not set'), ('', 'set but empty'), ('/no/such/fermi/dir', 'does not exist')],
                         ids=['unset', 'empty', 'nonexistent'])
def test_data_directory_problems(tmp_path, capsys, monkeypatch, value, says):
    monkeypatch.setenv('FERMI_NB_CACHE', str(tmp_path / 'cache'))
    if value is None: monkeypatch.delenv('FERMI_NB_DATA', raising=False)
    else: monkeypatch.setenv('FERMI_NB_DATA', value)
    rc, out, err = cli(capsys, 'data')
    assert rc == 1 and '0 ok, 25 missing' in out
    one_line_error(err, 'FERMI_NB_DATA', says)


def _data_farm(tmp_path, missing=(), corrupt=()) -> Path:
    "A data directory of links to the shared files, without `missing` and with damaged copies of `corrupt`."
    farm = tmp_path / 'data'
    for src in SHARED.rglob('*'):
        if not src.is_file(): continue
        rel = src.relative_to(SHARED).as_posix(); dst = farm / rel; dst.parent.mkdir(parents=True, exist_ok=True)
        if rel in missing: continue
        if rel in corrupt: data = bytearray(src.read_bytes()); data[len(data) // 2] ^= 0xFF; dst.write_bytes(bytes(data))
        else: dst.symlink_to(src)
    return farm


@needs_shared
def test_data_one_file_missing_exits_nonzero(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv('FERMI_NB_CACHE', str(tmp_path / 'cache'))
    monkeypatch.setenv('FERMI_NB_DATA', str(_data_farm(tmp_path, missing={'irf/psf_P8R3_SOURCE_V2_FB.fits'})))
    rc, out, err = cli(capsys, 'data')
    assert rc == 1 and '24 ok, 1 missing' in out
    assert [l for l in out.splitlines() if 'psf_P8R3' in l][0].startswith('missing')


@needs_shared
def test_corrupt_instrument_file_stops_run_before_any_stage(tmp_path, capsys, monkeypatch):
    key = 'irf/psf_P8R3_SOURCE_V2_FB.fits'
    monkeypatch.setenv('FERMI_NB_CACHE', str(tmp_path / 'cache'))
    monkeypatch.setenv('FERMI_NB_DATA', str(_data_farm(tmp_path, corrupt={key})))
    prof = profile_file(tmp_path, f'instrument:\n  psf_file: {key}', 'withpsf')
    rc, _, err = cli(capsys, 'run', '--profile', prof, '--out', tmp_path / 'r')
    assert rc == 1; one_line_error(err, key, 'corrupt')
    assert not (tmp_path / 'r').exists()


@needs_shared
def test_corrupt_catalogue_caught_at_start(tmp_path, capsys, monkeypatch):
    "Before: a corrupt 4FGL passed the start-up check and was first read after training."
    key = 'catalogs/gll_psc_v27.fit'
    monkeypatch.setenv('FERMI_NB_CACHE', str(tmp_path / 'cache'))
    monkeypatch.setenv('FERMI_NB_DATA', str(_data_farm(tmp_path, corrupt={key})))
    prof = profile_file(tmp_path, f'real_data:\n  counts_map: fermi_573w/fermidata_counts.npy\n  catalog: {key}', 'withcat')
    rc, _, err = cli(capsys, 'run', '--profile', prof, '--out', tmp_path / 'r')
    assert rc == 1; one_line_error(err, key, 'corrupt')
    assert not (tmp_path / 'r').exists()
    with pytest.raises(DataError, match='corrupt'): check_data_files([key])


@needs_shared
def test_corrupt_counts_map_called_corrupt(tmp_path, monkeypatch):
    "A corrupt real counts map is an error naming it corrupt, not a skipped real-data stage."
    key = 'fermi_573w/fermidata_counts.npy'
    monkeypatch.setenv('FERMI_NB_CACHE', str(tmp_path / 'cache'))
    monkeypatch.setenv('FERMI_NB_DATA', str(_data_farm(tmp_path, corrupt={key})))
    with pytest.raises(DataError, match=f"'{key}'.*corrupt"):
        run_pipeline(str(profile_file(tmp_path, f'real_data:\n  counts_map: {key}', 'withcounts')), tmp_path / 'r')
    assert not (tmp_path / 'r').exists()


# ---- map contents -----------------------------------------------------------------------------------------------------
GOOD = np.ones(12 * 8 ** 2)
MAP_CASES = [(np.r_[GOOD[:-1], np.nan], 'NaN or infinite'), (np.r_[GOOD[:-1], np.inf], 'NaN or infinite'),
             (np.r_[GOOD[:-1], -2.0], 'negative'), (GOOD[:-5], 'not a HEALPix map')]

@pytest.mark.parametrize('values,says', MAP_CASES, ids=['nan', 'inf', 'negative', 'size'])
def test_map_validator(values, says):
    with pytest.raises(DataError, match=f'counts_bad.npy.*{says}'): validate_map(values, 'counts_bad.npy')


def _manifest_with(tmp_path, monkeypatch, name: str, content: bytes) -> str:
    "A one-entry data manifest for a file written here (its checksum is right: the content is what is wrong)."
    import hashlib
    d = tmp_path / 'data'; (d / 'maps').mkdir(parents=True, exist_ok=True); (d / 'maps' / name).write_bytes(content)
    entry = dict(path=f'maps/{name}', sha256=hashlib.sha256(content).hexdigest(), size_bytes=len(content), description='test',
                 url='https://example.invalid/x', citation='-', licence='-')
    (tmp_path / 'manifest.yaml').write_text(yaml.safe_dump({'files': [entry]}))
    monkeypatch.setenv('FERMI_NB_MANIFEST', str(tmp_path / 'manifest.yaml'))
    monkeypatch.setenv('FERMI_NB_DATA', str(d)); monkeypatch.setenv('FERMI_NB_CACHE', str(tmp_path / 'cache'))
    return entry['path']


def test_load_map_unreadable_file_called_corrupt(tmp_path, monkeypatch):
    key = _manifest_with(tmp_path, monkeypatch, 'counts.npy', b'\x93NUMPY garbage, not an array')
    with pytest.raises(DataError, match=f"'{key}'.*is corrupt"): load_map(key)


def test_load_map_nan_map_names_file(tmp_path, monkeypatch):
    import io
    buf = io.BytesIO(); np.save(buf, np.r_[GOOD[:-1], np.nan])
    key = _manifest_with(tmp_path, monkeypatch, 'counts.npy', buf.getvalue())
    with pytest.raises(DataError, match='counts.npy.*NaN'): load_map(key)


def test_classical_search_rejects_nan_counts():
    "Before: NaN counts gave 0 detections and NaN template norms."
    from fermi_nb.classical import classical_catalog
    bad = np.r_[GOOD[:-1], np.nan] * 5
    with pytest.raises(DataError, match='counts.*NaN'):
        classical_catalog(bad, np.full(GOOD.size, 1e11), {'iso': GOOD}, None, load_profile('quick'))
    with pytest.raises(DataError, match="template 'iso'.*has 192 pixels, expected 768"):
        classical_catalog(GOOD * 5, np.full(GOOD.size, 1e11), {'iso': np.ones(192)}, None, load_profile('quick'))


# ---- outputs that would be reused -------------------------------------------------------------------------------------
def test_stale_sky_not_reused(tmp_path, capsys):
    "Before: a second `simulate` with density_scale changed printed '1 skies' and kept the old sky."
    from fermi_nb.sky import simulate_skies, sky_dir
    out = tmp_path / 'skies'
    simulate_skies('quick', [0], out, n_workers=1, progress=False)
    meta = (sky_dir(out, 0) / 'meta.json').read_text()
    dense = profile_file(tmp_path, 'population:\n  density_scale: 2.0', 'dense')
    rc, _, err = cli(capsys, 'simulate', '--profile', dense, '--seed', 0, '--out', out, '--workers', 1)
    assert rc == 2; one_line_error(err, 'sky_00000', "'quick'", 'population.density_scale: 1.0 → 2.0')
    assert (sky_dir(out, 0) / 'meta.json').read_text() == meta and sorted(p.name for p in out.iterdir()) == ['sky_00000']


# ---- the run directory ------------------------------------------------------------------------------------------------
def _toy(tmp_path, body="import time\ntime.sleep(sleep_s)", params="profile_name = 'quick'\nrun_dir = None\nsleep_s = 0"):
    import nbformat
    d = tmp_path / 'toy_nbs'; d.mkdir(exist_ok=True)
    nb = nbformat.v4.new_notebook(metadata={'kernelspec': {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}})
    p = nbformat.v4.new_code_cell(params); p.metadata['tags'] = ['parameters']
    nb.cells = [p, nbformat.v4.new_code_cell(body + "\nfrom fermi_nb.runner import write_stage_metrics\n"
                                                    "write_stage_metrics(run_dir, 'a', {'done': 1})")]
    nbformat.write(nb, str(d / 'a.ipynb'))
    return d, [Stage('a', 'a.ipynb')]


def test_second_run_on_a_directory_in_use_is_refused(tmp_path):
    nbs, stages = _toy(tmp_path)
    run_dir = tmp_path / 'run'; run_dir.mkdir()
    with RunDirLock(run_dir):
        with pytest.raises(RunError, match=f'{run_dir} is in use by another run \\(pid {os.getpid()}'):
            run_pipeline('quick', run_dir, stages=stages, nbs_dir=nbs)
    assert not (run_dir / 'state').exists() and not (run_dir / 'profile.yaml').exists()


def test_stale_lock_and_partial_files_of_a_killed_run_are_cleared(tmp_path):
    nbs, stages = _toy(tmp_path)
    run_dir = tmp_path / 'run'; (run_dir / 'notebooks').mkdir(parents=True)
    (run_dir / '.lock').write_text('pid 999999 on elsewhere since 2020-01-01T00:00:00')   # what a kill -9 leaves
    (run_dir / 'notebooks' / '.running.a.ipynb').write_text('{}')                         # the old runner's temp name
    (run_dir / PARTIAL_DIR).mkdir(); (run_dir / PARTIAL_DIR / 'a.ipynb').write_text('{}')
    (run_dir / 'metrics').mkdir(); (run_dir / 'metrics' / '.a.json.abc123.tmp').write_text('half')
    assert run_pipeline('quick', run_dir, stages=stages, nbs_dir=nbs) == {'a': {'done': 1}}
    log = (run_dir / 'run.log').read_text()
    assert 'cleared the stale lock of a run that was killed (pid 999999' in log and 'removed 3 partial file(s)' in log
    leftovers = [p for p in run_dir.rglob('*') if p.name.startswith('.') and p.name != '.lock']
    assert leftovers == [] and (run_dir / '.lock').read_text() == ''


def test_resume_with_other_stage_parameters_is_refused(tmp_path):
    nbs, stages = _toy(tmp_path)
    run_pipeline('quick', tmp_path / 'run', {'sleep_s': 0}, stages=stages, nbs_dir=nbs)
    with pytest.raises(RunError, match="stage 'a'.*completed with stage parameters \\{'sleep_s': 0\\}, now \\{'sleep_s': 1\\}"):
        run_pipeline('quick', tmp_path / 'run', {'sleep_s': 1}, stages=stages, nbs_dir=nbs)
    run_pipeline('quick', tmp_path / 'run', {'sleep_s': 0}, stages=stages, nbs_dir=nbs)   # the same ones resume


def test_resume_with_another_profile_is_refused(tmp_path, capsys):
    nbs, stages = _toy(tmp_path)
    run_pipeline('quick', tmp_path / 'run', stages=stages, nbs_dir=nbs)
    with pytest.raises(RunError, match="made with a different profile"):
        run_pipeline('quick', tmp_path / 'run', {'training.epochs': 2}, stages=stages, nbs_dir=nbs)


def test_ctrl_c_one_line_and_nothing_partial(tmp_path):
    "Before: a 60-line traceback and notebooks/.running.*.ipynb left behind."
    run_dir = tmp_path / 'run'
    # A job started in the background by a non-interactive shell (CI) inherits SIGINT ignored; a terminal's Ctrl-C
    # reaches a process whose SIGINT is the default, so restore that in the child.
    proc = subprocess.Popen([EXE, 'run', '--profile', TINY, '--out', run_dir], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        t0 = time.time()
        stage_log = run_dir / 'logs' / 'simulate.log'   # written once the kernel runs the stage's cells
        while not (stage_log.exists() and stage_log.stat().st_size) and time.time() - t0 < 180: time.sleep(0.5)
        time.sleep(1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None: proc.kill(); proc.wait()
    assert proc.returncode == 130, err
    # The stage kernel's own log (ipykernel: '[IPKernelApp] ...' blocks, written when its parent went away mid-reply)
    # shares the terminal; everything else on stderr is the runner's and must hold no traceback.
    runner_err = re.sub(r'^\[IPKernelApp\] .*?(?=^fermi-nb|^\[IPKernelApp\]|\Z)', '', err, flags=re.S | re.M)
    assert 'Traceback' not in runner_err, err
    ours = [l for l in err.splitlines() if l.startswith('fermi-nb')]   # (the stopping kernel may still log a warning after it)
    assert len(ours) == 1 and "interrupted during stage 'simulate'" in ours[0] and 'rerun the same command' in ours[0], err
    assert not (run_dir / PARTIAL_DIR).exists() and not list(run_dir.rglob('.running.*'))
    assert not (run_dir / 'state').exists() and (run_dir / '.lock').read_text() == ''


def test_atomic_write_honours_umask(tmp_path):
    old = os.umask(0o022)
    try:
        assert atomic_write_text(tmp_path / 'a.txt', 'x').stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        assert atomic_write_text(tmp_path / 'b.txt', 'x').stat().st_mode & 0o777 == 0o600
    finally: os.umask(old)


@needs_shared
def test_catalog_with_corrupt_counts_map_says_corrupt(tmp_path, capsys, monkeypatch):
    "Before: 'is not available: set FERMI_NB_DATA' although it was set and the file was there."
    key = 'fermi_573w/fermidata_counts.npy'
    monkeypatch.setenv('FERMI_NB_CACHE', str(tmp_path / 'cache'))
    monkeypatch.setenv('FERMI_NB_DATA', str(_data_farm(tmp_path, corrupt={key})))
    rc, _, err = cli(capsys, 'catalog', '--profile', 'real573w', '--out', tmp_path / 'r')
    assert rc == 2; one_line_error(err, key, 'corrupt')
    assert 'not available' not in err and not (tmp_path / 'r').exists()
