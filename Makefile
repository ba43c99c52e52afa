# Set-up and entry points. `make demo` and `make test` work on a fresh machine (Python 3.11, root, registries only).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEBIAN_PACKAGES := apertium apertium-eng-spa apertium-eng-cat wordnet-base wordnet-sense-index chromium chromium-driver apertium-en-gl apertium-eo-en apertium-hbs-eng

.PHONY: demo test bench docs dist system-deps venv bytecode clean

# Debian packages: Apertium (back-translation), WordNet (synonyms), Chromium (the report test).
system-deps:
	@if dpkg -s $(DEBIAN_PACKAGES) >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(DEBIAN_PACKAGES); \
	else echo "missing Debian packages; run as root: apt-get install -y $(DEBIAN_PACKAGES)"; exit 1; fi

$(STAMP): setup.cfg pyproject.toml examples/plugin/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e '.[all,test,bench,docs]'
	$(BIN)/pip install -q --no-deps -e examples/plugin  # the example plugin the plugin tests run (entry points)
	touch $(STAMP)

venv: $(STAMP)

# Bytecode for the package, as pip writes it for an installed one: every CLI process the demo, the tests and the
# benchmarks start imports ~100 of its modules, which Python otherwise compiles again in each process where
# PYTHONDONTWRITEBYTECODE is set (~0.3 s of CPU each). Incremental: only changed sources are compiled.
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q augment examples/plugin/augment_stain

demo: system-deps $(STAMP) bytecode
	rm -rf demo-out
	$(BIN)/augment validate pipelines/flip_zoom_noise.yaml
	$(BIN)/augment run pipelines/flip_zoom_noise.yaml samples/digits demo-out/digits --include-originals
	$(BIN)/augment preview pipelines/photometric.yaml samples/digits/3/digit_0013.png -o demo-out/preview.png
	$(BIN)/augment run pipelines/eda.yaml samples/text/reviews.tsv demo-out/text --include-originals
	# evaluations on data made on the spot: 1000 digits from scikit-learn's bundled set, 3000 generated reviews
	$(BIN)/python samples/scripts/make_digits.py --per-class 100 --out demo-out/data/digits
	$(BIN)/python samples/scripts/make_reviews.py --n 3000 --out demo-out/data/reviews.tsv
	$(BIN)/augment eval pipelines/digits_upside_down.yaml --train demo-out/data/digits --train-sizes 500 \
		--copies 4 --out demo-out/eval-hurts
	$(BIN)/augment eval pipelines/digits_safe.yaml --train demo-out/data/digits --train-sizes 500 --copies 4 \
		--out demo-out/eval-safe
	$(BIN)/augment eval pipelines/eda.yaml --train demo-out/data/reviews.tsv --train-sizes 500,full --copies 4 \
		--model tfidf-logreg --out demo-out/eval-text
	@echo "demo outputs are in demo-out/"

test: system-deps $(STAMP) bytecode
	$(BIN)/python -m pytest -q -n auto

# the documentation site (also built with --strict by tests/test_docs.py in `make test`)
docs: $(STAMP)
	$(BIN)/python -m mkdocs build --strict --site-dir site

# sdist + wheel into dist/, checked as PyPI would
dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/python -m twine check --strict dist/*

bench: system-deps $(STAMP) bytecode
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf demo-out test-artifacts benchmarks/out .pytest_cache site dist build *.egg-info
	find augment examples -name __pycache__ -prune -exec rm -rf {} +
