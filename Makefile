# Two commands for a newcomer: `make demo` and `make test`. Both set up what they need first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
MMNET := $(VENV)/bin/mmnet
INSTALLED := $(VENV)/.installed

.PHONY: setup adb demo lint test test-unit test-fast fuzz inspect clean constraints

# The venv is rebuilt only when the dependency pins change.
$(INSTALLED): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	@# TFLite metadata writer: tflite-support pins protobuf<4, so it goes in without its deps, and its
	@# native module needs libusb. Best effort: without it bundles record why metadata is missing.
	$(PY) -m pip install --quiet --no-deps tflite-support==0.4.4 || echo "note: tflite-support not installed; no TFLite metadata"
	@if ! ldconfig -p 2>/dev/null | grep -q libusb-1.0; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && apt-get install -y -qq libusb-1.0-0) >/dev/null 2>&1 || echo "note: could not install libusb-1.0-0; no TFLite metadata"; \
	  else echo "note: install libusb-1.0-0 (Debian/Ubuntu) to embed TFLite metadata"; fi; \
	fi
	touch $@

# The Android harness's Java modules (android_harness/pom.xml) build with Maven from Maven Central: `setup` fetches
# every dependency and plugin into the local repository (~/.m2) and compiles once, so `make test` runs them offline
# (`mvn -o`, Robolectric in offline mode). Refetched when a pom changes. adb is for `mmnet harness` on real phones.
MVN ?= mvn
MAVEN_POMS := android_harness/pom.xml $(wildcard android_harness/*/pom.xml android_harness/app/*/pom.xml)
MAVEN_FETCHED := $(VENV)/.maven-fetched

$(MAVEN_FETCHED): $(MAVEN_POMS) | $(INSTALLED)
	@if ! command -v $(MVN) >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing maven and a JDK (Debian)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven default-jdk-headless) >/dev/null \
	      || { echo "error: mvn is missing and apt-get could not install maven"; exit 1; }; \
	  else echo "error: mvn is missing: install Maven 3.8+ and JDK 17 (Debian/Ubuntu: apt-get install maven default-jdk-headless)"; exit 1; fi; \
	fi
	@echo "fetching the Android harness's Maven dependencies (Gson, JUnit, Robolectric and its Android 15 jars, TensorFlow Lite)"
	$(MVN) -B -q -Dstyle.color=never -f android_harness/pom.xml clean test -DskipTests
	touch $@

# Beam's Flink job server must be exactly the Python SDK's Beam version. Best effort: the first Flink version whose
# jar Maven Central (or its mirror) serves lands in $(VENV)/flink/; what was refused is kept in $(FLINK_FETCHED).
BEAM_VERSION := $(shell sed -n 's/^apache-beam==//p' constraints.txt)
FLINK_VERSIONS ?= 1.19 1.20 2.0 2.1 2.2
FLINK_FETCHED := $(VENV)/.flink-fetched

$(FLINK_FETCHED): constraints.txt | $(INSTALLED)
	@rm -f $@.tmp; if command -v $(MVN) >/dev/null; then \
	  for flink in $(FLINK_VERSIONS); do \
	    artifact=org.apache.beam:beam-runners-flink-$$flink-job-server:$(BEAM_VERSION); \
	    if $(MVN) -B -q -U -Dstyle.color=never dependency:copy -Dartifact=$$artifact -DoutputDirectory=$(VENV)/flink >$@.mvn 2>&1; then \
	      echo "fetched $$artifact" >> $@.tmp; break; \
	    else echo "refused $$artifact: $$(grep -m1 -o -E 'Could not find artifact [^ ]* in [a-z]*|[^ ]* was not found in [^ ]*' $@.mvn || echo 'mvn failed')" >> $@.tmp; fi; \
	  done; \
	else echo "mvn missing: no Flink job server" > $@.tmp; fi; rm -f $@.mvn; mv $@.tmp $@; \
	grep -q '^fetched' $@ || echo "note: no Flink job server for Beam $(BEAM_VERSION) (see $@); the Flink runner is unavailable"

adb:
	@if ! command -v adb >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq adb) >/dev/null || echo "note: could not install adb"; \
	  else echo "note: install adb (Debian/Ubuntu) to run \`mmnet harness\` on phones"; fi; \
	fi

setup: $(INSTALLED) $(MAVEN_FETCHED) $(FLINK_FETCHED) adb

demo: setup
	$(MMNET) build --config configs/digits.yaml --out bundles/digits

inspect: setup
	$(MMNET) inspect bundles/digits

# The unit layer runs in a pytest process of its own, before anything imports TensorFlow: its import
# blocker (tests/unit/conftest.py) refuses TensorFlow, Keras and Beam only where they are not yet loaded.
UNIT := tests/unit
OTHER_LAYERS := tests/integration tests/e2e

# ruff's rules are in pyproject.toml; mypy checks the TF-free layers in tests/integration/test_types.py.
lint: setup
	$(PY) -m ruff check .

test: lint
	$(PY) -m pytest $(UNIT)
	$(PY) -m pytest $(OTHER_LAYERS)

test-unit: setup
	$(PY) -m pytest $(UNIT)

test-fast: lint
	$(PY) -m pytest -m "not slow" $(UNIT)
	$(PY) -m pytest -m "not slow" $(OTHER_LAYERS)

# The fuzz suite with a long budget (make test runs it with a short one).
FUZZ_EXAMPLES ?= 2000
fuzz: setup
	MMNET_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -m fuzz $(UNIT)
	MMNET_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -m fuzz $(OTHER_LAYERS)

# Regenerate the pins from a fresh venv (maintainers only; needs the package registry).
constraints:
	rm -rf /tmp/mmnet-constraints-venv
	$(PYTHON) -m venv /tmp/mmnet-constraints-venv
	/tmp/mmnet-constraints-venv/bin/pip install --quiet --upgrade pip
	/tmp/mmnet-constraints-venv/bin/pip install --quiet -e '.[dev]'
	/tmp/mmnet-constraints-venv/bin/pip freeze --exclude-editable | grep -v '^-e ' > constraints.txt

clean:
	rm -rf bundles/ .bundles.work
