# Sphinx configuration of the fermi_nb documentation site. `fermi-nb docs` (make docs) stages this folder together with
# the executed notebooks and the generated API pages in a temporary directory and runs Sphinx there; see nbs/92_docs.ipynb.
project = 'fermi_nb'
author = 'fermi_nb developers'
copyright = '2026 onwards, fermi_nb developers'

extensions = ['myst_nb', 'sphinx.ext.mathjax']
exclude_patterns = ['_build', '**.ipynb_checkpoints']
templates_path = ['_templates']
root_doc = 'index'

# Notebooks arrive executed and cleaned (nbs/92_docs.ipynb): myst-nb only renders them.
nb_execution_mode = 'off'
nb_output_stderr = 'remove'               # library log lines and warnings
nb_merge_streams = True
nb_ipywidgets_js = {}                     # widgets are not embedded (no CDN scripts); explorers carry a static view
nb_mime_priority_overrides = [('html', 'application/vnd.jupyter.widget-view+json', None)]
myst_enable_extensions = ['dollarmath', 'amsmath', 'colon_fence']
myst_heading_anchors = 3
suppress_warnings = ['myst.header', 'myst.xref_missing', 'mystnb.unknown_mime_type', 'toc.not_included']

# Maths without network: MathJax 3 (single file, SVG output) copied into _static by the builder.
mathjax_path = 'mathjax/tex-svg-full.js'
mathjax3_config = {'tex': {'inlineMath': [['\\(', '\\)']], 'displayMath': [['\\[', '\\]']]}}

html_theme = 'pydata_sphinx_theme'
html_title = 'fermi_nb'
html_static_path = ['_static']
html_css_files = ['fermi_nb.css']
html_show_sourcelink = False
html_copy_source = False
html_last_updated_fmt = None
html_sidebars = {'**': ['sidebar-nav-all']}   # the whole site, grouped by stage, on every page
html_theme_options = {
    'navbar_align': 'left',
    'header_links_before_dropdown': 8,
    'navbar_end': ['theme-switcher'],
    'navbar_persistent': ['search-button-field'],
    'secondary_sidebar_items': ['page-toc'],
    'show_toc_level': 2,
    'show_prev_next': True,
    'footer_start': ['copyright'],
    'footer_end': ['sphinx-version'],
    'search_bar_text': 'Search the docs ...',
}
