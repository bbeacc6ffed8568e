# medialib: the two commands a user needs are `make run` and `make test`.
# CMake does the building; this file installs what is missing and drives it.

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all deps build run test test-unit test-valgrind test-e2e test-e2e-s3 test-client check-source bench fuzz clean format

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS) 2>&1 | grep -Ev '^(\[ *[0-9]+%\]|-- )' || true
	@test -x $(BUILD)/medialib

run: build
	./$(BUILD)/medialib serve

# The sanitizer build (ASan + UBSan) also compiles the test-only hooks.
asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DML_SANITIZE=ON -DML_TEST_HOOKS=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS) 2>&1 | grep -Ev '^(\[ *[0-9]+%\]|-- )' || true
	@test -x $(ASAN_BUILD)/medialib

check-source:
	@bash scripts/check-source.sh

# Unit tests and fuzz corpus replays under ASan+UBSan.
test-unit: asan
	cd $(ASAN_BUILD) && ctest --output-on-failure -j$(JOBS)

# The same unit tests under valgrind, on the plain build.
test-valgrind: build
	@bash scripts/valgrind-units.sh $(BUILD)

# End-to-end tests: the real binary (sanitized) over HTTP.
test-e2e: asan
	MEDIALIB_BIN=$(CURDIR)/$(ASAN_BUILD)/medialib node --test --test-concurrency=1 tests/e2e/

# The same end-to-end suite with the blobs on S3: s3rver on a free port of
# 127.0.0.1 (scripts/s3rver.sh), a fresh bucket per server (tests/e2e/lib/
# store.mjs); s3rver is stopped whatever the outcome.
S3RVER_E2E_DIR ?= $(CURDIR)/$(ASAN_BUILD)/s3rver-e2e
test-e2e-s3: asan
	@bash -c 'trap "bash scripts/s3rver.sh stop $(S3RVER_E2E_DIR)" EXIT; \
	  bash scripts/s3rver.sh start $(S3RVER_E2E_DIR) 0 || exit 1; \
	  MEDIALIB_E2E_S3_ENDPOINT=http://127.0.0.1:$$(cat $(S3RVER_E2E_DIR)/port) \
	  MEDIALIB_BIN=$(CURDIR)/$(ASAN_BUILD)/medialib node --test --test-concurrency=1 tests/e2e/'

# The TypeScript client (clients/js) against the real binary.
test-client: build
	cd clients/js && npm run build --silent && MEDIALIB_BIN=$(CURDIR)/$(BUILD)/medialib node --test test/*.test.mjs

test: check-source test-unit test-valgrind test-e2e test-e2e-s3 test-client

bench: build
	bash bench/run.sh $(BUILD)/medialib

fuzz: deps
	@CC=clang cmake -S . -B build-fuzz -DML_FUZZ=ON -DML_SANITIZE=ON >/dev/null
	@cmake --build build-fuzz -j$(JOBS) >/dev/null
	bash scripts/fuzz.sh build-fuzz $${FUZZ_SECONDS:-60}

format:
	clang-format -i $(wildcard src/*.c src/*/*.c src/*/*.h tests/unit/*.c fuzz/*.c bench/*.c)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
