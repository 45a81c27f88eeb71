# fermi_nb: two commands do everything.  `make demo` runs the quick pipeline, `make test` the tests.
# Both create (once) a local virtual environment in .venv and install the package into it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUN    ?= runs/quick

.PHONY: demo test install export docs docs-check bench clean-venv

$(STAMP): settings.ini setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## The quick profile end to end, no external data needed.
demo: $(STAMP)
	$(BIN)/fermi-nb run --profile quick --out $(RUN)

## Module in sync with the notebooks, notebook tests, plain tests.
test: $(STAMP)
	bash .ci/test.sh

export: $(STAMP)
	$(BIN)/nbdev_export

## The documentation site in _site/ (every notebook executed on the quick path; no data or network needed).
docs: $(STAMP)
	$(BIN)/fermi-nb docs --out _site

## Look at the built site in headless Chromium (apt-get install chromium); screenshots in _docs_screenshots/.
docs-check: $(STAMP)
	$(BIN)/python tools/check_site.py _site

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean-venv:
	rm -rf $(VENV)
