# The README's two commands: `make demo` and `make test`. Both install what is missing first.
SHELL := /bin/bash
SWIFT_FLAGS := -c release -Xswiftc -enable-testing
BIN := .build/release
MULTIARCH := $(shell gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
# What the build needs, and what the tests run for real: a one-node Slurm (slurm-wlm, munge) and
# sqlite3 to read stores as a user does, curl and headless Chromium to read the dashboard.
NEEDED_FILES := /usr/include/zmq.h /usr/include/$(MULTIARCH)/cblas.h /usr/include/sqlite3.h \
	/usr/sbin/slurmctld /usr/sbin/slurmd /usr/sbin/munged /usr/bin/sqlite3 /usr/bin/curl /usr/bin/chromium
APT_PACKAGES := libzmq3-dev libopenblas-dev libsqlite3-dev pkg-config slurm-wlm munge sqlite3 curl chromium
# Optuna: the early-stopping and TPE tests compare our decisions with its own. kubernetes-validate:
# the manifests in deploy/kubernetes are checked against the Kubernetes schema. pyzmq: the Python
# client (clients/python) speaks to real coordinators; wheel lets a test pip-install it offline;
# mypy checks its type hints (--strict).
PIP_PACKAGES := optuna==5.0.0 kubernetes-validate==1.37.0 pyzmq==27.3.0 wheel==0.45.1 mypy==2.4.1
# This machine forces Haswell kernels (older OpenBLAS builds misbehave on its CPU); keep it for tests.
export OPENBLAS_CORETYPE ?= Haswell

.PHONY: all deps build test demo bench fuzz format format-check clean

all: build

deps:
	@missing=0; for f in $(NEEDED_FILES); do [ -f "$$f" ] || missing=1; done; \
	if [ $$missing = 1 ]; then \
		echo "installing $(APT_PACKAGES)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES); \
	fi
	@python3 -c "import optuna, kubernetes_validate, zmq, wheel, mypy" 2>/dev/null || { echo "installing $(PIP_PACKAGES)"; \
		python3 -m pip install --quiet --root-user-action=ignore $(PIP_PACKAGES); }

build: deps
	swift build $(SWIFT_FLAGS) --build-tests

# The decoder fuzz run first, so the test runner's summary is the last thing printed. The tests
# run with a private TMPDIR and fail the run if they leave anything in it but SwiftPM's own files.
test: build format-check
	bash tools/check-deploy.sh
	$(BIN)/sweep-fuzz-decoder 30
	@scratch=$$(mktemp -d); status=0; \
	echo "TMPDIR=$$scratch swift test $(SWIFT_FLAGS) --skip-build"; \
	TMPDIR=$$scratch swift test $(SWIFT_FLAGS) --skip-build || status=$$?; \
	leftovers=$$(cd $$scratch && ls -A | grep -v -e '^TemporaryDirectory\.' -e '\.lock$$'); rm -rf $$scratch; \
	if [ -n "$$leftovers" ]; then echo "make test: the tests left these in TMPDIR:" $$leftovers; status=1; fi; \
	exit $$status

# Swift sources are formatted by swift-format (the toolchain's own) with .swift-format; `make test`
# fails on a file it would change.
FORMATTED := Package.swift Sources Tests Benchmarks
format:
	swift format --in-place --recursive $(FORMATTED)

format-check:
	@swift format lint --strict --recursive $(FORMATTED) || { echo "make test: run 'make format' (swift-format) and commit"; exit 1; }

# The decoder fuzz target for longer (FUZZ_SECONDS, default 600).
fuzz: build
	$(BIN)/sweep-fuzz-decoder $${FUZZ_SECONDS:-600} $$(date +%s)

demo: build
	@bash tools/demo.sh $(BIN)

# Training throughput and its per-step breakdown (docs/BENCHMARKS.md).
bench: build
	$(BIN)/sweep-bench-training --threads 1,2 --epochs 3 --repeats 3

clean:
	rm -rf .build out
