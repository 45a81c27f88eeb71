#!/usr/bin/env python
"""Look at the built documentation site in headless Chromium, as a reader would, and check four pages.

Usage: python tools/check_site.py [SITE_DIR] [--shots DIR] [--stage PAGE] [--real-sky PAGE] [--api PAGE]
       (defaults: _site, screenshots into _docs_screenshots/, pages 10_patching.html, 52_real_sky.html, api/config.html)

For the landing page, a stage page, the real-sky page and an API page, Chromium (Debian package `chromium`) renders
the page with its scripts run (`--dump-dom` after a virtual-time budget) and the checks are made on that DOM:
- navigation: the sidebar lists every section (getting started ... API) and stage pages have previous/next links;
- search: the search box (a form posting `q` to search.html) is on the page and search.html + searchindex.js exist;
- maths: every `math` element was typeset by MathJax (an `mjx-container` inside) and no raw TeX (`$...$`, `\\(`) is
  left in the text outside code;
- images: the pages meant to show figures have some, and every <img> points at an existing, non-empty file;
- offline: no script, stylesheet or image is loaded from the network.
A screenshot of each page is saved (window 1400 px wide; 1000 px high for the index, 2400 for the others). Exit status 1 when a check fails, 2 when Chromium is missing.
"""
import argparse, re, shutil, subprocess, sys, tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ('getting-started', 'simulation', 'detection', 'characterisation', 'catalogue', 'real-sky', 'studies', 'api')

def chromium() -> str | None:
    return next((shutil.which(n) for n in ('chromium', 'chromium-browser', 'google-chrome') if shutil.which(n)), None)

def _chrome(exe, *args, timeout=120):
    with tempfile.TemporaryDirectory(prefix='check_site_') as profile:   # a throw-away browser profile
        cmd = [exe, '--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--hide-scrollbars',
               f'--user-data-dir={profile}', '--virtual-time-budget=20000', '--run-all-compositor-stages-before-draw', *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)

def rendered_dom(exe, page: Path) -> str:
    "The page's DOM after its scripts ran (MathJax typesetting included)."
    proc = _chrome(exe, '--dump-dom', page.as_uri())
    if proc.returncode != 0 or '<html' not in proc.stdout: raise RuntimeError(f"chromium could not render {page}: {proc.stderr[-500:]}")
    return proc.stdout

def screenshot(exe, page: Path, out: Path, size=(1400, 1000)):
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = _chrome(exe, f'--window-size={size[0]},{size[1]}', f'--screenshot={out}', page.as_uri())
    if not out.exists(): raise RuntimeError(f"no screenshot of {page}: {proc.stderr[-500:]}")

def check_page(dom: str, page: Path, site: Path, want_images: bool, want_math: bool, want_prev_next: bool) -> list[str]:
    "Problems found on one rendered page ([] when it is fine)."
    from bs4 import BeautifulSoup
    soup = BeautifulSoup(dom, 'html.parser'); problems = []
    nav = soup.select_one('nav.bd-docs-nav')
    hrefs = [a.get('href', '') for a in nav.find_all('a')] if nav else []
    missing = [s for s in SECTIONS if not any(re.search(rf'(^|/){s}\.html', h) for h in hrefs)]
    if nav is None or missing: problems.append(f"sidebar navigation lacks sections {missing}")
    if want_prev_next and not soup.select('.prev-next-area a'): problems.append("no previous/next links")
    form = soup.select_one('form.bd-search')
    if form is None or form.find('input', attrs={'name': 'q'}) is None: problems.append("no search box (form.bd-search with input q)")
    if not ((site / 'search.html').exists() and (site / 'searchindex.js').exists()): problems.append("search.html / searchindex.js missing")
    article = soup.select_one('article') or soup
    maths = article.select('.math')
    untypeset = [m for m in maths if m.find('mjx-container') is None]
    if want_math and not maths: problems.append("no maths on a page that should have some")
    if untypeset: problems.append(f"{len(untypeset)} of {len(maths)} maths not typeset by MathJax, e.g. {untypeset[0].get_text()[:60]!r}")
    for tag in article.select('pre, code, script, style, mjx-container, .math, .highlight'): tag.decompose()
    text = article.get_text(' ')
    raw = re.findall(r'\$[^$\s][^$]{0,80}\$|\\\(|\\\[', text)
    if raw: problems.append(f"raw TeX in the text: {raw[:3]}")
    imgs = BeautifulSoup(dom, 'html.parser').select('article img')
    if want_images and not imgs: problems.append("no images on a page that should show figures")
    for img in imgs:
        src = img.get('src', '')
        if src.startswith('data:'): continue
        f = (page.parent / unquote(urlparse(src).path)).resolve()
        if not (f.is_file() and f.stat().st_size > 0): problems.append(f"image {src} missing"); break
    remote = [t.get('src') or t.get('href') for t in soup.select('script[src], link[rel=stylesheet], img[src]')
              if re.match(r'(https?:)?//', t.get('src') or t.get('href') or '')]
    if remote: problems.append(f"loads from the network: {remote[:3]}")
    return problems

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('site', nargs='?', default=str(ROOT / '_site'))
    ap.add_argument('--shots', default=str(ROOT / '_docs_screenshots'), help='folder of the screenshots (git-ignored)')
    ap.add_argument('--stage', default='10_patching.html', help='stage page to check (with maths and figures)')
    ap.add_argument('--real-sky', default='52_real_sky.html', help='real-sky page to check (with figures)')
    ap.add_argument('--api', default='api/config.html', help='API page to check')
    args = ap.parse_args(argv)
    exe = chromium()
    if exe is None: print("check_site: chromium not found (apt-get install chromium)", file=sys.stderr); return 2
    site = Path(args.site).resolve()
    pages = [('index', 'index.html', False, False, False), ('stage', args.stage, True, True, True),
             ('real-sky', args.real_sky, True, False, True), ('api', args.api, False, False, True)]
    failed = 0
    for name, rel, imgs, math, pn in pages:
        page = site / rel
        if not page.exists(): print(f"FAIL {name}: {page} does not exist"); failed += 1; continue
        problems = check_page(rendered_dom(exe, page), page, site, imgs, math, pn)
        shot = Path(args.shots) / f"{name}.png"
        screenshot(exe, page, shot, (1400, 1000 if name == 'index' else 2400))
        print(f"{'FAIL' if problems else 'ok  '} {name}: {rel}" + (''.join(f"\n     - {p}" for p in problems) if problems else f" (screenshot {shot})"))
        failed += bool(problems)
    return 1 if failed else 0

if __name__ == '__main__':
    sys.exit(main())
