# Entry points for people; CMake does the real work. `make test` on a fresh Debian 12 machine
# installs what is missing (scripts/install-deps.sh), builds into build/ and runs every test.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps configure build test serve bench clean help

all: build

help:
	@echo "make build   build everything into $(BUILD_DIR)/ (binaries in $(BUILD_DIR)/bin)"
	@echo "make test    build and run all tests (ctest)"
	@echo "make serve   build and run the service on the embedded default model"
	@echo "make bench   build and run the benchmarks"
	@echo "make deps    install the Debian packages the build needs"

deps:
	@scripts/install-deps.sh

$(BUILD_DIR)/build.ninja: | deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS)

configure: deps $(BUILD_DIR)/build.ninja

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

serve: build
	@scripts/serve.sh $(BUILD_DIR) $(ARGS)

bench: build
	$(BUILD_DIR)/bin/perennial-bench --suite clip --batch 16 --threads $(JOBS)

clean:
	rm -rf $(BUILD_DIR)
