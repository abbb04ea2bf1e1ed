# Two commands set up a fresh machine and run condsim: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test lint bench browser

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned, so pip keeps the CPU wheel on disk instead of pulling a multi-GB CUDA build;
	# torchvision 0.28.0 is the release for torch 2.13 that open_clip needs (--no-deps: its CUDA-built ops
	# are not loadable beside CPU torch; condsim.encoders.torchvision_compat copes with that).
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q --no-deps torchvision==0.28.0
	$(PY) -m pip install -q -e ".[test,milvus,ray]"
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/condsim demo --out out/demo

# ruff over everything; mypy over the library with pyproject's [tool.mypy] (strict on condsim.methods)
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy src/condsim

# the ten slowest tests are listed at the end, so a slow one is seen (and made faster) rather than hidden
test: $(VENV)/.installed browser lint
	$(PY) -m pytest -q --durations=10

# the browser test's Chromium and its driver (Debian packages) when missing: installed with apt as root;
# as another user, a note (tests/service/test_browser.py then skips, except under CI=true where it fails)
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q --no-install-recommends chromium chromium-driver; \
	else echo "note: chromium/chromium-driver missing; as root: apt-get install chromium chromium-driver (the browser test skips)"; fi

bench: $(VENV)/.installed
	$(PY) benchmarks/run_all.py
