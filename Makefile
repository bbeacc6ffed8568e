# medialib: the two commands a user needs are `make run` and `make test`.
# CMake does the building; this file installs what is missing and drives it.

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all deps web build asan run test test-unit test-valgrind test-e2e test-e2e-pg test-e2e-pg-s3 test-e2e-cloudinary test-client test-browser check-source bench fuzz clean format

all: build

deps:
	@bash scripts/install-deps.sh

# The admin UI (web/, Vite) is built first: cmake embeds web/dist into the binary.
web: deps
	@bash scripts/build-web.sh

build: deps web
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS) 2>&1 | grep -Ev '^(\[ *[0-9]+%\]|-- )' || true
	@test -x $(BUILD)/medialib

run: build
	./$(BUILD)/medialib serve

# The sanitizer build (ASan + UBSan) also compiles the test-only hooks.
asan: deps web
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

# The same end-to-end tests on PostgreSQL: a throwaway cluster (stopped even
# when a test fails), a fresh database per server started.
PG_E2E_DIR ?= $(CURDIR)/$(ASAN_BUILD)/pge2e
test-e2e-pg: asan
	@url=$$(bash scripts/pg-cluster.sh start $(PG_E2E_DIR)) || exit 1; \
	MEDIALIB_E2E_PG_URL=$$url MEDIALIB_BIN=$(CURDIR)/$(ASAN_BUILD)/medialib \
	  node --test --test-concurrency=1 tests/e2e/; rc=$$?; \
	bash scripts/pg-cluster.sh stop $(PG_E2E_DIR); exit $$rc

# The same suite on PostgreSQL with the blobs on S3 (issue 7's third
# combination): a throwaway cluster and s3rver on free ports of 127.0.0.1
# (scripts/pg-cluster.sh, scripts/s3rver.sh), a fresh database and bucket per
# server (tests/e2e/lib/server.mjs, store.mjs); both stopped whatever the
# outcome.
PG_S3_E2E_DIR ?= $(CURDIR)/$(ASAN_BUILD)/pgs3e2e
S3RVER_E2E_DIR ?= $(CURDIR)/$(ASAN_BUILD)/s3rver-e2e
test-e2e-pg-s3: asan
	@bash -c 'trap "bash scripts/s3rver.sh stop $(S3RVER_E2E_DIR); bash scripts/pg-cluster.sh stop $(PG_S3_E2E_DIR)" EXIT; \
	  url=$$(bash scripts/pg-cluster.sh start $(PG_S3_E2E_DIR)) || exit 1; \
	  bash scripts/s3rver.sh start $(S3RVER_E2E_DIR) 0 || exit 1; \
	  MEDIALIB_E2E_PG_URL=$$url MEDIALIB_E2E_S3_ENDPOINT=http://127.0.0.1:$$(cat $(S3RVER_E2E_DIR)/port) \
	  MEDIALIB_BIN=$(CURDIR)/$(ASAN_BUILD)/medialib node --test --test-concurrency=1 tests/e2e/'

# The same suite with the blobs on Cloudinary, through the stand-in server
# (tests/cloudinary/standin.mjs: the real service cannot be reached from
# here), after the stand-in's own tests: a fresh stand-in on a free port of
# 127.0.0.1, a folder of its account per server, stopped whatever the outcome.
CLD_E2E_DIR ?= $(CURDIR)/$(ASAN_BUILD)/cloudinary-e2e
test-e2e-cloudinary: asan
	node --test tests/cloudinary/
	@bash -c 'trap "bash scripts/cloudinary-standin.sh stop $(CLD_E2E_DIR)" EXIT; \
	  bash scripts/cloudinary-standin.sh start $(CLD_E2E_DIR) 0 || exit 1; \
	  MEDIALIB_E2E_CLOUDINARY_ENDPOINT=http://127.0.0.1:$$(cat $(CLD_E2E_DIR)/port) \
	  MEDIALIB_BIN=$(CURDIR)/$(ASAN_BUILD)/medialib node --test --test-concurrency=1 tests/e2e/'

# The TypeScript client (clients/js) against the real binary.
test-client: build
	cd clients/js && npm run build --silent && MEDIALIB_BIN=$(CURDIR)/$(BUILD)/medialib node --test test/*.test.mjs

# The admin UI in Debian's chromium (playwright-core) against the real binary;
# screenshots of each step in web/test/artifacts/.
test-browser: build
	cd web && MEDIALIB_BIN=$(CURDIR)/$(BUILD)/medialib node --test --test-concurrency=1 test/*.test.mjs

test: check-source test-unit test-valgrind test-e2e test-e2e-pg test-e2e-pg-s3 test-e2e-cloudinary test-client test-browser

bench: build
	bash bench/run.sh $(BUILD)/medialib

fuzz: deps
	@CC=clang cmake -S . -B build-fuzz -DML_FUZZ=ON -DML_SANITIZE=ON >/dev/null
	@cmake --build build-fuzz -j$(JOBS) >/dev/null
	bash scripts/fuzz.sh build-fuzz $${FUZZ_SECONDS:-60}

format:
	clang-format -i $(wildcard src/*.c src/*/*.c src/*/*.h tests/unit/*.c fuzz/*.c bench/*.c)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz web/dist
