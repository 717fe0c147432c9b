# revmq — the two set-up commands are `make run` and `make test`.
# Both install missing Debian packages (scripts/deps.sh PURPOSE) and build first:
# `make run` only the build and runtime ones (no Mosquitto broker), `make test` the
# test tooling too, `make bench` the benchmark peers. DEPS=… overrides the purpose.

BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
PYTEST     := /usr/bin/python3 -m pytest
# .clang-format uses InsertBraces (braces always), which needs clang-format 15
CLANG_FORMAT ?= clang-format-15
FUZZ_SECONDS ?= 60

.PHONY: all deps build install run run-broker test valgrind bench unit integration asan tsan fuzz format format-check clean

all: build

DEPS ?= build
deps:
	@bash scripts/deps.sh $(DEPS)

# the purpose follows the goal (target-specific, inherited by `build` and `deps`)
run: DEPS = run
test asan valgrind fuzz: DEPS = test
bench: DEPS = bench

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DRMQ_WERROR=ON

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# make install [PREFIX=/usr/local] [DESTDIR=/tmp/stage]: binaries, man pages,
# $(PREFIX)/etc/revmq/revmq.conf (/etc with PREFIX=/usr) and the systemd unit.
PREFIX ?= /usr/local
install: build
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) > /dev/null
	cmake --build $(BUILD) -j $(JOBS)
	DESTDIR=$(DESTDIR) cmake --install $(BUILD)

# The revocation demo on loopback: revmq-ca (4664) and revmq (TCP 1883 with a password, mutual
# TLS 8883 with CRL checking and OCSP stapling); demo PKI kept in ./demo/.
# Prints commands to subscribe, publish, see the staple and revoke device 2.
# Ctrl-C stops both.
# The build is quiet here (its output goes to $(BUILD)/build.log, shown on failure).
run: deps
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) -DRMQ_WERROR=ON > /dev/null
	@echo "building revmq (log: $(BUILD)/build.log) ..."
	@cmake --build $(BUILD) -j $(JOBS) > $(BUILD)/build.log 2>&1 || { tail -40 $(BUILD)/build.log; exit 1; }
	@bash scripts/demo.sh $(BUILD)

# The plain broker with the default configuration (TCP 127.0.0.1:1883, loopback only).
run-broker: build
	bash scripts/run.sh $(BUILD)

unit:
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

integration:
	RMQ_BUILD_DIR=$(abspath $(BUILD)) $(PYTEST) -q -p no:cacheprovider tests/integration

# Every test: unit (ctest) then integration (pytest, real processes on loopback).
test: build
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory integration

# The same tests under AddressSanitizer + UndefinedBehaviorSanitizer.
asan: deps
	cmake -S . -B $(ASAN_BUILD) -DRMQ_WERROR=ON -DRMQ_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	$(MAKE) --no-print-directory unit BUILD=$(ASAN_BUILD)
	$(MAKE) --no-print-directory integration BUILD=$(ASAN_BUILD)

# Integration tests with the broker under valgrind (leaks and memory errors);
# a subset that crosses every part: MQTT sessions, wills, TLS, CRL, OCSP, session owners,
# the store (rows put off by durable_sessions.flush_delay, its timer).
VALGRIND_TESTS ?= tests/integration/test_mqtt_connect.py tests/integration/test_mqtt_will.py \
                  tests/integration/test_tls_revocation.py tests/integration/test_tls_stapling.py \
                  tests/integration/test_authn_takeover.py tests/integration/test_admin_store.py
# ThreadSanitizer: the unit tests of the threaded parts (net, router/core, the log rate limit,
# revocation snapshots/engine/fetcher, tls) and an integration subset that
# runs the handshake threads, the fetcher, the OCSP stapler, the password
# hashing thread, admin jobs, revocation against worker 0 and split connections
# (socket + TLS on a handshake worker, MQTT on worker 0) (~4 min).
# A data race fails the test: halt_on_error makes the process exit 66, and
# the harness also fails on any "ThreadSanitizer:" report in a broker log.
TSAN_OPTIONS_CI ?= halt_on_error=1 exitcode=66 second_deadlock_stack=1 history_size=4
TSAN_UNIT ?= ^test_(net|mqtt_router|revocation|tls)_|^test_common_basics$$
TSAN_IT ?= tests/integration/test_crl_live.py tests/integration/test_tls_revocation.py \
	tests/integration/test_mqtt_pubsub.py tests/integration/test_tls_listener.py \
	tests/integration/test_ocsp_stapler.py tests/integration/test_admin_revocation.py \
	tests/integration/test_authn_passwords.py tests/integration/test_net_write_path.py \
	tests/integration/test_net_workers.py tests/integration/test_net_split.py
tsan: deps
	cmake -S . -B $(TSAN_BUILD) -DRMQ_WERROR=ON -DRMQ_TSAN=ON -DCMAKE_BUILD_TYPE=Debug
	cmake --build $(TSAN_BUILD) -j $(JOBS)
	cd $(TSAN_BUILD) && TSAN_OPTIONS="$(TSAN_OPTIONS_CI)" ctest --output-on-failure -j $(JOBS) -R '$(TSAN_UNIT)'
	TSAN_OPTIONS="$(TSAN_OPTIONS_CI)" RMQ_BUILD_DIR=$(abspath $(TSAN_BUILD)) \
		$(PYTEST) -q -p no:cacheprovider $(TSAN_IT)

valgrind: build
	RMQ_TEST_VALGRIND=1 RMQ_BUILD_DIR=$(abspath $(BUILD)) $(PYTEST) -q -p no:cacheprovider $(VALGRIND_TESTS)

# revmq beside Mosquitto on loopback (bench/run.sh; see docs/benchmarks.md).
# Minutes of load: not part of the tests. BENCH_QUICK=1 for a short run.
bench: build
	bash bench/run.sh

# libFuzzer targets, FUZZ_SECONDS each.
fuzz: deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DRMQ_WERROR=ON -DRMQ_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_all
	bash scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

format:
	$(CLANG_FORMAT) -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'tests/*.h' 'bench/*.c')

format-check:
	$(CLANG_FORMAT) --dry-run --Werror $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'tests/*.h' 'bench/*.c')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
