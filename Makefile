# Thin wrapper over CMake for the README's commands. Every target installs
# missing Debian packages first (scripts/install-deps.sh, idempotent).
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
WERROR ?= ON

.PHONY: all deps build build-asan test test-release test-asan run cluster bench fuzz format clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DVECTRON_WERROR=$(WERROR) $(CMAKE_FLAGS)
	cmake --build build -j $(JOBS)

build-asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVECTRON_SANITIZE=ON -DVECTRON_WERROR=$(WERROR) $(CMAKE_FLAGS)
	cmake --build build-asan -j $(JOBS)

# The unit suite twice (a normal build and an ASan+UBSan build), then the
# integration suites against build/vectron: Python (pytest: API behaviour,
# bad input, the kill -9 durability test), the Python SDK's tests, the
# published Qdrant JavaScript client and the dashboard in headless Chromium
# (screenshots in build/dashboard-screenshots/).
test: build build-asan
	ctest --test-dir build --output-on-failure
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    ctest --test-dir build-asan --output-on-failure
	/usr/bin/python3 -m pytest tests/integration -q
	/usr/bin/python3 -m pytest clients/python/tests -q
	tests/js/run.sh
	tests/dashboard/run.sh

# Starts `vectron serve` on ./data with the sample collection (10,000
# Fashion-MNIST images) and prints how to query it.
run: build
	scripts/run.sh

# A local cluster on loopback: 3 PD members, 3 workers, 1 gateway
# (scripts/cluster.sh; `scripts/cluster.sh down` stops it).
cluster: build
	scripts/cluster.sh up

bench:
	scripts/bench.sh

fuzz: deps
	scripts/fuzz.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h' '*.cpp')

clean:
	rm -rf build build-asan build-bench build-fuzz
