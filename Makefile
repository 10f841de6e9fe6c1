# Every target sets up what it needs on a fresh Debian 12 / Ubuntu machine and is safe to re-run.
SHELL := /bin/bash
.DEFAULT_GOAL := help

APT_PACKAGES := qgis python3-qgis qgis-providers python3-gdal python3-rasterio python3-scipy gdal-bin python3-venv python3-pip xvfb gcc libc6-dev
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
VENV := .venv
PY := $(VENV)/bin/python
QGIS_PROFILE ?= $(HOME)/.local/share/QGIS/QGIS3/profiles/default
export QT_QPA_PLATFORM := offscreen
export PYTHONDONTWRITEBYTECODE := 1

# make detect T1=... T2=... OUT=dir [REF=...] [MODE=int8|fp32|prior] [SEED=n] [EPOCHS=n]
MODE ?= int8
SEED ?= 0
OUT ?= build/detect
# make bench* read the shared real pairs here: a folder of pair folders, each with t1.tif, t2.tif and gt.tif
DATA ?= ../shared/data

.PHONY: help setup apt test test-core demo detect batch package deploy lint translation bench bench-engine bench-prior bench-accuracy bench-pair-scale bench-scale bench-batch bench-contention screenshot clean

help:
	@echo "make demo   - set up, then detect changes on a generated sample pair through qgis_process"
	@echo "make test   - set up, then run every test (headless)"
	@echo "make detect T1=a.tif T2=b.tif OUT=dir [REF=gt.tif] [MODE=int8|fp32|prior] [SEED=0] [EPOCHS=n] [PARAMS='AOI=a.gpkg ...']"
	@echo "make batch PAIRS=pairs.csv OUT=dir [SCHEDULER=tcp://host:8786] [WORKERS=n] [FORCE=1] [PARAMS='mode=prior']"
	@echo "make translation TO=fr - the plugin's strings for Qt Linguist, compiled for QGIS"
	@echo "make package | deploy | lint | bench | setup | clean"

apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:" $$missing; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(VENV)/.installed: requirements.txt
	@$(MAKE) --no-print-directory apt
	/usr/bin/python3 -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

# The integer engine's fused passes (core/integer/kernels.c), for this machine's CPU; without them the
# engine runs the same integer arithmetic as torch ops, slower.
KERNELS := core/integer/_kernels.so
$(KERNELS): core/integer/kernels.c
	@$(MAKE) --no-print-directory apt
	gcc -O3 -march=native -fopenmp -shared -fPIC -Wall -Wextra \
	  -DOAIP_SOURCE='"'$$(sha256sum $< | cut -c1-16)'"' -o $@ $<

setup: apt $(VENV)/.installed $(KERNELS)

test: setup
	$(PY) -m pytest tests

test-core: setup
	$(PY) -m pytest -p no:qgis tests/core

demo: setup
	@test -f build/demo/pair/t1.tif || $(PY) -m oaip_qgis.core.sample_pair build/demo/pair
	$(PY) scripts/detect.py --t1 build/demo/pair/t1.tif --t2 build/demo/pair/t2.tif \
	  --reference build/demo/pair/truth.tif --out build/demo/result --mode $(MODE) --seed $(SEED)

# PARAMS reaches detect.py through the environment, whole, and is split there as a shell would split it,
# so that PARAMS='AOI="my area.gpkg" PRUNE=false' keeps the quoted path's space.
detect: export OAIP_PARAMS = $(PARAMS)
detect: setup
	@test -n "$(T1)" -a -n "$(T2)" || { echo "usage: make detect T1=a.tif T2=b.tif OUT=dir [REF=gt.tif] [MODE=int8|fp32|prior] [SEED=0] [PARAMS='AOI=\"my area.gpkg\" PRUNE=false']"; exit 2; }
	$(PY) scripts/detect.py --t1 "$(T1)" --t2 "$(T2)" --out "$(OUT)" --mode $(MODE) --seed $(SEED) \
	  $(if $(REF),--reference "$(REF)") $(if $(EPOCHS),--epochs $(EPOCHS)) --params "$$OAIP_PARAMS"

# make batch PAIRS=pairs.csv OUT=dir [SCHEDULER=tcp://host:8786] [WORKERS=n] [FORCE=1] [MODE=...] [PARAMS='seed=1 aoi="my area.gpkg"']
# OUT must be given here (its default above is detect's); MODE applies only when given on the command line.
BATCH_OUT := $(if $(filter file,$(origin OUT)),,$(OUT))
batch: export OAIP_PARAMS = $(PARAMS)
batch: setup
	@test -n "$(PAIRS)" -a -n "$(BATCH_OUT)" || { echo "usage: make batch PAIRS=pairs.csv OUT=dir [SCHEDULER=tcp://host:8786] [WORKERS=n] [FORCE=1] [PARAMS='mode=prior seed=1']"; exit 2; }
	$(PY) -m oaip_qgis.core.batch "$(PAIRS)" --out "$(BATCH_OUT)" $(if $(SCHEDULER),--scheduler "$(SCHEDULER)") \
	  $(if $(WORKERS),--workers $(WORKERS)) $(if $(filter 1 yes true,$(FORCE)),--force) \
	  $(if $(filter command line environment,$(origin MODE)),--param mode=$(MODE)) --params "$$OAIP_PARAMS"

package: setup
	$(PY) scripts/package.py build/oaip_qgis.zip

deploy: package
	mkdir -p "$(QGIS_PROFILE)/python/plugins"
	rm -rf "$(QGIS_PROFILE)/python/plugins/oaip_qgis"
	$(PY) -c "import zipfile,sys; zipfile.ZipFile('build/oaip_qgis.zip').extractall(sys.argv[1])" "$(QGIS_PROFILE)/python/plugins"
	cp $(KERNELS) "$(QGIS_PROFILE)/python/plugins/oaip_qgis/core/integer/"   # built for this machine's CPU
	@echo "Installed into $(QGIS_PROFILE)/python/plugins/oaip_qgis; enable it in Plugins > Manage and Install Plugins."

lint: setup
	$(PY) -m ruff check core oaip_qgis tests bench scripts

# make translation TO=fr: the plugin's strings into resources/i18n/oaip_qgis_fr.ts (kept translations stay) for
# Qt Linguist, compiled to the .qm the plugin loads for that language. pylupdate5 files tr() calls outside a
# class under "@default"; the plugin looks them up under "OAIP".
translation: setup
	@[ -n "$(TO)" ] || { echo "Give the language: make translation TO=fr"; exit 2; }
	@command -v pylupdate5 >/dev/null && command -v lrelease >/dev/null || \
	  $(MAKE) --no-print-directory apt APT_PACKAGES="pyqt5-dev-tools qttools5-dev-tools"
	mkdir -p resources/i18n
	@# back to pylupdate5's context first, so that the translations kept are matched as finished ones
	[ ! -f resources/i18n/oaip_qgis_$(TO).ts ] || sed -i 's|<name>OAIP</name>|<name>@default</name>|' resources/i18n/oaip_qgis_$(TO).ts
	pylupdate5 -noobsolete $$(git ls-files 'oaip_qgis/*.py' 'core/*.py') resources/dock.ui \
	  -ts resources/i18n/oaip_qgis_$(TO).ts 2>/dev/null
	sed -i 's|<name>@default</name>|<name>OAIP</name>|' resources/i18n/oaip_qgis_$(TO).ts
	PATH=/usr/lib/qt5/bin:$$PATH lrelease -silent resources/i18n/oaip_qgis_$(TO).ts -qm resources/i18n/oaip_qgis_$(TO).qm

bench: bench-engine bench-prior bench-accuracy bench-pair-scale bench-scale bench-batch bench-contention

bench-engine: setup
	$(PY) bench/bench_engine.py

bench-prior: setup
	$(PY) bench/bench_prior.py --data "$(DATA)"

bench-accuracy: setup
	$(PY) bench/bench_accuracy.py --data "$(DATA)"

bench-pair-scale: setup
	$(PY) bench/bench_pair_scale.py --data "$(DATA)"

bench-scale: setup
	$(PY) bench/bench_scale.py

bench-batch: setup
	$(PY) bench/bench_batch.py --data "$(DATA)"

bench-contention: setup
	$(PY) bench/bench_contention.py

screenshot: setup
	$(PY) scripts/screenshot.py build/screenshot.png

clean:
	rm -rf build .pytest_cache .qgis-settings
