#!/usr/bin/env python
"""Normalise notebook metadata in nbs/: Python 3 kernelspec (papermill needs it), no authoring-tool metadata.

Usage: python tools/finalise_nbs.py [NOTEBOOK ...]   (default: every nbs/*.ipynb)
"""
import json, sys
from pathlib import Path

KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}

def finalise(path: Path) -> bool:
    nb = json.loads(path.read_text(encoding='utf-8'))
    meta = nb.setdefault('metadata', {})
    before = json.dumps(meta, sort_keys=True)
    meta.pop('jupytext', None)
    meta['kernelspec'] = KERNELSPEC
    meta.setdefault('language_info', {'name': 'python'})
    if json.dumps(meta, sort_keys=True) == before: return False
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n', encoding='utf-8')
    return True

if __name__ == '__main__':
    root = Path(__file__).resolve().parent.parent
    paths = [Path(p) for p in sys.argv[1:]] or sorted((root / 'nbs').glob('*.ipynb'))
    changed = [p.name for p in paths if finalise(p)]
    print(f"finalised {len(changed)} notebook(s): {', '.join(changed)}" if changed else "notebooks already final")
