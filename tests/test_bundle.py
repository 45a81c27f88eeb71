"Model bundles: the shipped real573w bundle verifies, its archive round-trips, tampering and version mismatches are named, export reproduces it."
import json, os, shutil
from pathlib import Path
import numpy as np, pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault('FERMI_NB_DATA', str(ROOT.parent / 'shared' / 'data'))
from fermi_nb.bundle import (load_bundle, export_model, export_model_cli, shipped_bundles, write_checksums, BundleError,
                             MODELS_DIR, BUNDLE_FORMAT, _deterministic_tar)

needs_shipped = pytest.mark.skipif('real573w' not in shipped_bundles(), reason='real573w bundle not installed')

@pytest.fixture(scope='module')
def shipped(): return load_bundle('real573w')

@needs_shipped
def test_shipped_bundle_verifies_and_fits_in_the_package(shipped):
    files = {'profile.yaml', 'operating_point.json', 'miun/model.keras', 'characterisation/calibration.json', 'bundle.json',
             'model_card.json', 'MODEL_CARD.md', 'domain/exposure_cm2_s.npy'}
    assert files <= set(shipped.sha256)
    total = sum(f.stat().st_size for f in MODELS_DIR.rglob('*') if f.is_file())
    assert total <= 20e6, f"package data of the models {total / 1e6:.1f} MB > 20 MB"
    card = shipped.card
    assert card['bundle_format'] == BUNDLE_FORMAT and card['profile_is_shipped_default'] is True
    assert card['commands']['train'].startswith('fermi-nb catalog --profile real573w') and 'export-model' in card['commands']['export']
    assert card['training']['seed'] == 5 and card['training']['epochs'] == 8 and card['training']['simulated_skies']['train'] == 10
    assert 0.5 < card['real_sky']['dl']['highb_matched'] <= 1 and card['real_sky']['n_det'] > 500
    assert not any(v.startswith('/') for v in _strings(card)), 'machine path in the model card'
    assert shipped.profile.localisation.prob_threshold == json.loads((shipped.path / 'operating_point.json').read_text())['prob_threshold']

def _strings(d):
    if isinstance(d, dict):
        for v in d.values(): yield from _strings(v)
    elif isinstance(d, list):
        for v in d: yield from _strings(v)
    elif isinstance(d, str): yield d

@needs_shipped
def test_archive_round_trip(shipped, tmp_path, monkeypatch):
    monkeypatch.setenv('FERMI_NB_CACHE', str(tmp_path / 'cache'))
    arc = MODELS_DIR / 'real573w.tar.gz'
    assert arc.is_file()
    b = load_bundle(arc)
    assert b.sha256 == shipped.sha256 and b.path != shipped.path
    again = tmp_path / 'again.tar.gz'; _deterministic_tar(shipped.path, again)
    assert again.read_bytes() == arc.read_bytes()          # the archive is a pure function of the directory

def _copy(shipped, tmp_path) -> Path:
    dest = tmp_path / 'real573w'; shutil.copytree(shipped.path, dest); return dest

@needs_shipped
def test_tampering_is_named(shipped, tmp_path):
    c = _copy(shipped, tmp_path)
    raw = bytearray((c / 'miun' / 'model.keras').read_bytes()); raw[len(raw) // 2] ^= 0xFF
    (c / 'miun' / 'model.keras').write_bytes(bytes(raw))
    with pytest.raises(BundleError, match=r'miun/model.keras changed'): load_bundle(c)
    shutil.copyfile(shipped.path / 'miun' / 'model.keras', c / 'miun' / 'model.keras')
    (c / 'characterisation' / 'calibration.json').unlink()
    with pytest.raises(BundleError, match=r'missing file characterisation/calibration.json'): load_bundle(c)
    shutil.copyfile(shipped.path / 'characterisation' / 'calibration.json', c / 'characterisation' / 'calibration.json')
    (c / 'notes.txt').write_text('x')
    with pytest.raises(BundleError, match='unlisted file notes.txt'): load_bundle(c)
    (c / 'notes.txt').unlink()
    assert load_bundle(c).sha256 == shipped.sha256
    with pytest.raises(BundleError, match='neither a shipped bundle'): load_bundle(tmp_path / 'nothing')

@needs_shipped
def test_versions_are_checked(shipped, tmp_path):
    c = _copy(shipped, tmp_path)
    meta = json.loads((c / 'bundle.json').read_text())
    (c / 'bundle.json').write_text(json.dumps({**meta, 'bundle_format': BUNDLE_FORMAT + 1})); write_checksums(c)
    with pytest.raises(BundleError, match=f'format {BUNDLE_FORMAT + 1}.*reads format {BUNDLE_FORMAT}'): load_bundle(c)
    (c / 'bundle.json').write_text(json.dumps({**meta, 'keras': '2.15.0'})); write_checksums(c)
    with pytest.raises(BundleError, match='Keras 2.15.0'): load_bundle(c)

@needs_shipped
def test_export_from_a_run_layout_reproduces_the_models(shipped, tmp_path):
    "A run directory rebuilt from the bundle exports to the same model files (no training)."
    run = tmp_path / 'run'
    for src, dest in (('profile.yaml', 'profile.yaml'), ('miun/model.keras', 'miun/model.keras'),
                      ('operating_point.json', 'localisation/operating_point.json')):
        (run / dest).parent.mkdir(parents=True, exist_ok=True); shutil.copyfile(shipped.path / src, run / dest)
    shutil.copytree(shipped.path / 'characterisation', run / 'characterisation' / 'models')
    assert export_model_cli([str(run), '--out', str(tmp_path / 'b'), '--archive']) == 0
    b = load_bundle(tmp_path / 'b')
    same = [f for f in shipped.sha256 if f.startswith(('miun/', 'characterisation/', 'domain/')) or f in ('profile.yaml', 'operating_point.json')]
    assert same and all(b.sha256[f] == shipped.sha256[f] for f in same)
    assert b.card['real_sky'] is None                        # that run has no real-sky metrics: the card says nothing
    assert (tmp_path / 'b.tar.gz').is_file()
    (tmp_path / 'empty_run').mkdir(); shutil.copyfile(shipped.path / 'profile.yaml', tmp_path / 'empty_run' / 'profile.yaml')
    with pytest.raises(FileNotFoundError, match='no trained MIUN'): export_model(tmp_path / 'empty_run', tmp_path / 'x')

def test_domain_tolerances_and_event_class_come_from_one_place():
    "The detector's input domain takes its tolerances from the profile's domain section; one parser names event classes."
    from fermi_nb.bundle import bundle_domain, event_class_name, event_class_of
    from fermi_nb.config import load_profile, ProfileError
    assert bundle_domain(load_profile('real573w'))['tolerances'] == {'energy_edge_rel': 0.02, 'exposure_ratio': 0.25, 'min_coverage': 0.95}
    assert bundle_domain(load_profile('real573w', {'domain.exposure_ratio': 0.1}))['tolerances']['exposure_ratio'] == 0.1
    with pytest.raises(ProfileError, match='domain'): load_profile('quick', {'domain.min_coverage': 1.5})
    assert [event_class_name(t) for t in ('psf_P8R3_ULTRACLEANVETO_V3_PSF.fits', 'P8R2_SOURCE_V6', 'source', 'P8R3_CLEAN', 'foo')] == \
           ['ULTRACLEANVETO', 'SOURCE', 'SOURCE', 'CLEAN', None]
    assert event_class_of(load_profile('real573w')) == event_class_name(load_profile('real573w').instrument.psf_file)
