# Nexus: the two commands.
#   make run   installs what is missing, builds, creates a demo workspace on first run, serves.
#   make test  installs what is missing, builds (ASan + UBSan) and runs every test.
.PHONY: run test build deps release-build test-build bench format clean

JOBS ?= $(shell nproc)

deps:
	@bash scripts/install-deps.sh

release-build: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS) --target nexus

test-build: deps
	@cmake --preset test >/dev/null
	@cmake --build --preset test -j $(JOBS)

build: release-build

run: release-build
	@bash scripts/run-demo.sh build/release/src/cli/nexus

test: test-build
	@bash tests/layering_test.sh
	@ctest --preset test

bench: release-build
	@echo "see docs/performance.md for the benchmark commands"

format:
	@find src tests bench fuzz -name '*.h' -o -name '*.cc' | xargs clang-format -i

clean:
	@rm -rf build
