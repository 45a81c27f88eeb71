"The documentation site: every notebook has a section, a small site builds from executed notebooks into clean pages, a failing notebook is named, nothing tracked changes; Chromium checks the pages when installed."
import json, re, subprocess, sys
from pathlib import Path
import nbformat
import pytest
from fermi_nb.docs import (DOCS_DIR, PROJECT_DIR, SECTIONS, DocsError, build_site, notebook_sections, readme_text,
                           api_markdown, module_notebooks)

NBS = PROJECT_DIR / 'nbs'

def _git_status():
    return subprocess.run(['git', 'status', '--porcelain', '--untracked-files=all'], cwd=PROJECT_DIR,
                          capture_output=True, text=True).stdout

def test_every_notebook_in_a_section_and_every_section_has_a_page():
    stems = [p.stem for p in NBS.glob('*.ipynb') if p.stem != 'index']
    secs = notebook_sections(stems)
    assert sorted(s for v in secs.values() for s in v) == sorted(stems)
    for s in SECTIONS: assert (DOCS_DIR / f'{s}.md').exists(), f'docs/{s}.md missing'
    assert all(secs[s] for s in SECTIONS if s not in ('api',)), {s: v for s, v in secs.items() if not v}

def test_readme_is_the_index_notebook():
    assert (PROJECT_DIR / 'README.md').read_text(encoding='utf-8') == readme_text(), 'run fermi-nb docs --write-readme'

def test_api_pages_have_docments_tables():
    mods = module_notebooks()
    assert {'config', 'miun', 'docs'} <= set(mods) and mods['miun'] == '20_miun'
    md = api_markdown('miun', mods['miun'])
    assert '## train_miun' in md and '| argument | type | default | description |' in md
    rows = [l for l in md.splitlines() if l.startswith('| `')]
    assert len(rows) > 20 and sum(l.rstrip().endswith('|  |') for l in rows) < len(rows) / 4   # most arguments have a comment

@pytest.fixture(scope='module')
def small_site(tmp_path_factory):
    "Landing page + two executed notebooks + their API pages, built as `make docs` builds the whole site."
    before = _git_status()
    out = tmp_path_factory.mktemp('site') / 'site'
    lines = []
    rep = build_site(out, notebooks=[NBS / 'index.ipynb', NBS / '00_config.ipynb', NBS / '02_instrument.ipynb'],
                     cache=False, modules={'config': '00_config', 'instrument': '02_instrument'}, strict=True, log=lines.append)
    return out, rep, lines, before

def test_small_site_pages(small_site):
    out, rep, lines, _ = small_site
    assert {'index', '00_config', '02_instrument', 'api/config', 'getting-started', 'api'} <= set(rep.pages)
    assert not rep.failed and set(rep.executed) == {'00_config', '02_instrument'}
    page = (out / '02_instrument.html').read_text(encoding='utf-8')
    assert 'bd-sidebar-primary' in page and 'bd-search' in page and 'prev-next-area' in page   # navigation, search, prev/next
    for s in SECTIONS: assert re.search(rf'href="[^"]*{s}\.html"', page), f'sidebar lacks {s}'
    imgs = re.findall(r'<img[^>]+src="([^"]+)"', page)
    assert imgs and all((out / src).stat().st_size > 0 for src in imgs)                        # figures are files of the site
    assert 'class="math' in page and (out / '_static' / 'mathjax' / 'tex-svg-full.js').exists()
    assert not re.search(r'<script[^>]+src="(https?:)?//', page), 'a script is loaded from the network'
    for bad in ('TF_CPP', 'absl', 'injected-parameters', '#| export', 'default_exp'): assert bad not in page, bad
    assert (out / 'searchindex.js').exists() and 'load_profile' in (out / 'api' / 'config.html').read_text(encoding='utf-8')
    assert any('02_instrument.ipynb: ok' in l for l in lines)

def test_build_changes_no_tracked_file_and_leaves_no_temporary_folder(small_site):
    *_, before = small_site
    assert _git_status() == before
    assert not [p for p in PROJECT_DIR.iterdir() if p.name.startswith(('.site.', 'fermi_nb_docs_'))]

def test_failing_notebook_named_in_one_line_and_site_not_written(tmp_path):
    bad = tmp_path / 'nbs' / '07_broken.ipynb'; bad.parent.mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell('# Broken'),
                                                   nbformat.v4.new_code_cell('x = 1'), nbformat.v4.new_code_cell('1 / 0')],
                                            metadata={'kernelspec': {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}}), str(bad))
    lines = []
    with pytest.raises(DocsError, match='07_broken'):
        build_site(tmp_path / 'site', notebooks=[bad], cache=False, modules={}, log=lines.append)
    failed = [l for l in lines if 'FAILED' in l and '07_broken' in l]
    assert failed and all('\n' not in l for l in failed) and 'ZeroDivisionError' in failed[-1] and 'cell 2' in failed[-1]
    assert not (tmp_path / 'site').exists()

def test_pages_in_chromium(small_site, tmp_path):
    sys.path.insert(0, str(PROJECT_DIR / 'tools'))
    import check_site
    exe = check_site.chromium()
    if exe is None: pytest.skip('chromium is not installed (apt-get install chromium)')
    out, *_ = small_site
    for rel, imgs, math in (('index.html', False, False), ('02_instrument.html', True, True), ('api/config.html', False, False)):
        page = out / rel
        problems = check_site.check_page(check_site.rendered_dom(exe, page), page, out, imgs, math, rel != 'index.html')
        assert not problems, f'{rel}: {problems}'
