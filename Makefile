# Two commands on a fresh machine:  make demo  and  make test
# (make test-fast: the tests that train nothing; make test-long: the plain
# backbones' toy trainings that make test leaves out; make test-all: both).
# Both create .venv/ and install everything first: mmcv-lite (no compiler; the
# toolkit provides the compiled ops its models use), or with MMCV=full mmcv's
# full build, compiled from source (20+ minutes; pip caches the wheel):
#   make install MMCV=full   (later make commands keep the venv's choice)

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# On a GPU machine pick torch's CUDA build, e.g.
#   make TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126 demo
TORCH_INDEX_URL ?=
TORCH_INDEX := $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL),)
PYTEST_ARGS ?=
# mmcv-lite or the full build: the venv's current choice, else lite.
MMCV ?= $(shell cat $(VENV)/.mmcv 2>/dev/null || echo lite)
ifeq ($(filter $(MMCV),lite full),)
$(error MMCV must be lite or full, not '$(MMCV)')
endif
INSTALLED := $(VENV)/.installed-$(MMCV)

.PHONY: install demo demo-seg test test-fast test-long test-all clean-venv

install: $(INSTALLED)

$(INSTALLED): setup.py Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip 'setuptools>=77,<81' wheel
	$(PIP) install --quiet torch==2.13.0 $(TORCH_INDEX)
	# mmcv and mmcv-lite install the same package folder: never both.
	$(PIP) uninstall --quiet --yes mmcv mmcv-lite 2>/dev/null || true
ifeq ($(MMCV),full)
	# mmcv 2.1.0 is only on PyPI as source: build its compiled ops against
	# the torch above (pkg_resources needs setuptools < 81).
	MMCV_WITH_OPS=1 $(PIP) install --quiet --no-build-isolation mmcv==2.1.0
else
	$(PIP) install --quiet mmcv-lite==2.1.0
endif
	$(PIP) install --quiet --no-build-isolation -e '.[tests]'
	$(PY) -c "import convnext_dense, mmcv.ops, mmdet, mmseg; from convnext_dense.patches.mmcv_ops import using_toolkit_kernels as lite; print('installed:', convnext_dense.__version__, 'with', 'mmcv-lite and the toolkit kernels' if lite() else 'mmcv full build')"
	rm -f $(VENV)/.installed-*
	echo $(MMCV) > $(VENV)/.mmcv
	touch $@

demo: $(INSTALLED)
	$(PY) tools/demo.py detection

demo-seg: $(INSTALLED)
	$(PY) tools/demo.py segmentation

# What CI runs: within 10 minutes on 2 cores.
test: $(INSTALLED)
	$(PY) -m pytest -m "not long" $(PYTEST_ARGS)

# The tests that train nothing: a few minutes, for the edit loop.
test-fast: $(INSTALLED)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

# The isotropic ConvNeXt and ConvMixer toy models trained end to end (about
# 10 more minutes on 2 cores).
test-long: $(INSTALLED)
	$(PY) -m pytest -m long $(PYTEST_ARGS)

test-all: $(INSTALLED)
	$(PY) -m pytest $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
