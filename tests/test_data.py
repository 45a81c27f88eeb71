"Data manifest: every shared file listed, checksums verified, clear errors, no corrupt download left behind."
import os, shutil, subprocess, sys
from pathlib import Path
import pytest, yaml
from fermi_nb import data
from fermi_nb.data import DataError

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get('FERMI_NB_DATA', ROOT.parent / 'shared' / 'data'))
needs_shared = pytest.mark.skipif(not (SHARED / 'SHA256SUMS').exists(), reason='shared Fermi-LAT data not present')

def test_manifest_entries_complete():
    m = data.load_manifest()
    assert len(m) >= 25
    for e in m.values():
        assert len(e.sha256) == 64 and e.url.startswith('https://') and e.citation and e.licence and e.size_bytes > 0

@needs_shared
def test_manifest_matches_shared_checksums():
    sums = dict(reversed(line.split()) for line in (SHARED / 'SHA256SUMS').read_text().splitlines() if line.strip())
    m = data.load_manifest()
    assert set(sums) == set(m), 'manifest must name every file in shared/data'
    for key, sha in sums.items(): assert m[key].sha256 == sha

@needs_shared
def test_cli_reports_ok_and_tampered(tmp_path):
    env = {**os.environ, 'FERMI_NB_DATA': str(SHARED), 'FERMI_NB_CACHE': str(tmp_path / 'cache')}
    exe = Path(sys.executable).parent / 'fermi-nb'
    out = subprocess.run([exe, 'data'], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert '25 ok, 0 missing, 0 bad checksum' in out.stdout
    # a tampered copy of the whole data directory: one byte changed in one file
    copy = tmp_path / 'data'; shutil.copytree(SHARED, copy)
    target = copy / 'fermi_3fhl' / 'iso_P8R2_SOURCE_V6_v06.txt'; target.chmod(0o644)
    target.write_bytes(target.read_bytes()[:-1] + b'9')
    out = subprocess.run([exe, 'data'], env={**env, 'FERMI_NB_DATA': str(copy)}, capture_output=True, text=True)
    assert out.returncode == 1
    line = [l for l in out.stdout.splitlines() if 'iso_P8R2_SOURCE_V6_v06.txt' in l][0]
    assert line.startswith('bad checksum')
    assert '24 ok, 0 missing, 1 bad checksum' in out.stdout

def test_missing_file_error_names_entry(tmp_path, monkeypatch):
    monkeypatch.setenv('FERMI_NB_DATA', str(tmp_path / 'empty'))
    monkeypatch.setenv('FERMI_NB_CACHE', str(tmp_path / 'cache'))
    with pytest.raises(DataError, match='catalogs/gll_psc_v27.fit.*missing.*https://'):
        data.data_path('catalogs/gll_psc_v27.fit', download=False)
    with pytest.raises(DataError, match='not in the data manifest'):
        data.data_path('no/such/file.fits')

def test_failed_download_leaves_nothing(tmp_path, monkeypatch):
    "A download that fails (unreachable address) gives one clear error and leaves no file in the cache."
    m = yaml.safe_load((ROOT / 'data_manifest.yaml').read_text())
    entry = dict(m['files'][0]); entry['url'] = 'http://127.0.0.1:9/gll_psc_v27.fit'
    m['files'] = [entry]
    (tmp_path / 'manifest.yaml').write_text(yaml.safe_dump(m))
    monkeypatch.setenv('FERMI_NB_MANIFEST', str(tmp_path / 'manifest.yaml'))
    monkeypatch.setenv('FERMI_NB_DATA', str(tmp_path / 'empty'))
    monkeypatch.setenv('FERMI_NB_CACHE', str(tmp_path / 'cache'))
    monkeypatch.delenv('FERMI_NB_OFFLINE', raising=False)
    with pytest.raises(DataError, match='download from http://127.0.0.1:9/.* failed'):
        data.data_path(entry['path'])
    leftovers = [p for p in (tmp_path / 'cache').rglob('*') if p.is_file()] if (tmp_path / 'cache').exists() else []
    assert leftovers == []

def test_corrupt_download_rejected(tmp_path, monkeypatch):
    "A download whose content does not match the checksum is refused and removed (served from a local file URL)."
    src = tmp_path / 'served.fit'; src.write_bytes(b'not the catalogue')
    m = yaml.safe_load((ROOT / 'data_manifest.yaml').read_text())
    entry = dict(m['files'][0]); entry['url'] = src.as_uri(); m['files'] = [entry]
    (tmp_path / 'manifest.yaml').write_text(yaml.safe_dump(m))
    monkeypatch.setenv('FERMI_NB_MANIFEST', str(tmp_path / 'manifest.yaml'))
    monkeypatch.setenv('FERMI_NB_DATA', str(tmp_path / 'empty'))
    monkeypatch.setenv('FERMI_NB_CACHE', str(tmp_path / 'cache'))
    with pytest.raises(DataError, match='failed'):
        data.data_path(entry['path'])
    assert not (tmp_path / 'cache' / entry['path']).exists()
