# Two commands for a newcomer: `make demo` and `make test`. Both set up what they need first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
MMNET := $(VENV)/bin/mmnet
INSTALLED := $(VENV)/.installed

.PHONY: setup java-deps demo lint test test-unit test-fast fuzz inspect clean constraints

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

# The Android harness's Java core builds and runs its JUnit tests offline with Debian's JDK, JUnit 4,
# Hamcrest and Gson (Maven Central is out of reach here); adb is for `mmnet harness` on real phones.
JAVA_NEEDS := /usr/share/java/junit4.jar /usr/share/java/hamcrest-core.jar /usr/share/java/gson.jar
JAVA_PACKAGES := default-jdk-headless junit4 libhamcrest-java libgoogle-gson-java adb

java-deps:
	@if ! command -v javac >/dev/null || ! command -v adb >/dev/null || ! ls $(JAVA_NEEDS) >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing $(JAVA_PACKAGES) (Debian)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(JAVA_PACKAGES)) >/dev/null \
	      || { echo "error: could not install $(JAVA_PACKAGES)"; exit 1; }; \
	  else echo "note: install $(JAVA_PACKAGES) (Debian/Ubuntu) to build and test the Android harness core"; fi; \
	fi

setup: $(INSTALLED) java-deps

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
