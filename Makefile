# Two entry points (see README.md):
#   make demo   installs what is missing, builds, and runs the main job
#   make test   installs what is missing, builds with warnings as errors, runs every test
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: deps build demo test bench format clean

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPGCMK_WERROR=ON >/dev/null
	@ninja -C $(BUILD) -j $(JOBS)

demo: build
	@scripts/demo.sh $(BUILD)

test: build
	@scripts/run-tests.sh $(BUILD)

bench: build
	@scripts/run-benchmarks.sh $(BUILD)

format:
	@git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD)
