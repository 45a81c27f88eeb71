"Every notebook can be run by papermill: Python kernelspec, a parameters cell; stage notebooks take profile_name and run_dir."
import json
from pathlib import Path
import pytest
from fermi_nb.runner import STAGES

NBS = Path(__file__).resolve().parent.parent / 'nbs'
ALL = sorted(NBS.glob('*.ipynb'))

def _nb(path): return json.loads(path.read_text(encoding='utf-8'))

def _parameters_source(nb):
    cells = [c for c in nb['cells'] if 'parameters' in c.get('metadata', {}).get('tags', [])]
    return ''.join(cells[0]['source']) if cells else None

@pytest.mark.parametrize('path', ALL, ids=lambda p: p.name)
def test_kernelspec(path):
    assert _nb(path)['metadata'].get('kernelspec', {}).get('name') == 'python3', f'{path.name}: run tools/finalise_nbs.py'

@pytest.mark.parametrize('path', [p for p in ALL if p.name != 'index.ipynb'], ids=lambda p: p.name)
def test_parameters_cell(path):
    assert _parameters_source(_nb(path)) is not None, f'{path.name} has no cell tagged "parameters"'

@pytest.mark.parametrize('stage', STAGES, ids=lambda s: s.name)
def test_stage_parameters(stage):
    src = _parameters_source(_nb(NBS / stage.notebook))
    assert 'profile_name' in src and 'run_dir' in src, f'{stage.notebook}: parameters cell needs profile_name and run_dir'
