# devpi-like — plain Makefile, every dependency found with pkg-config.
#
#   make            build build/devpi-like
#   make run        install missing Debian packages, build, serve on 127.0.0.1:3141 (./data)
#   make test       unit tests (cmocka), fuzz-corpus replay, integration tests (pytest)
#   make asan       the whole suite under AddressSanitizer + UBSan
#   make fuzz       libFuzzer targets (clang), FUZZ_SECONDS each
#   make bench      devpi-like vs nginx on loopback (wrk), ratios in bench/results/
#   make check      style checks (banned functions, raw malloc)

CC ?= cc
BUILD ?= build
PKGS := libevent libevent_pthreads libcurl lmdb libssl libcrypto libarchive libcjson libargon2 inih zlib
OPT ?= -O2 -g
SAN ?=
WERROR ?= -Werror
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS_ALL := -std=gnu11 -D_GNU_SOURCE -Wall -Wextra $(WERROR) -Wno-unused-parameter \
	-Wshadow -Wstrict-prototypes -Wformat=2 -fno-strict-aliasing -I. $(PKG_CFLAGS) $(OPT) $(SAN) $(CFLAGS) -MMD -MP
LDLIBS_ALL := $(PKG_LIBS) -lpthread -lm $(SAN) $(LDFLAGS)

SRCS := $(wildcard common/*.c config/*.c store/*.c inherit/*.c proxy/*.c)
OBJS := $(SRCS:%.c=$(BUILD)/obj/%.o)
LIB := $(BUILD)/libdevpi.a
BIN := $(BUILD)/devpi-like

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_REPLAY := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/replay/%)

PY ?= /usr/bin/python3
PYTEST_ARGS ?=
FUZZ_SECONDS ?= 60

.PHONY: all run test unit replay integration asan fuzz check clean deps bench

all: $(BIN)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(LIB): $(OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BIN): $(BUILD)/obj/main.o $(LIB)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Wno-shadow -o $@ $< $(LIB) $(shell pkg-config --cflags --libs cmocka) $(LDLIBS_ALL)

$(BUILD)/replay/%: tests/fuzz/%.c tests/fuzz/replay_main.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< tests/fuzz/replay_main.c $(LIB) $(LDLIBS_ALL)

deps:
	@scripts/deps.sh

run: deps
	$(MAKE) $(BIN)
	$(BIN) serve --serverdir ./data --host 127.0.0.1 --port 3141 $(ARGS)

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

replay: $(FUZZ_REPLAY)
	@set -e; for t in $(FUZZ_REPLAY); do n=$$(basename $$t); \
		echo "== replay $$n"; $$t tests/fuzz/corpus/$$n; done

integration: $(BIN)
	DEVPI_LIKE_BIN=$(abspath $(BIN)) $(PY) -m pytest -q tests/integration $(PYTEST_ARGS)

test: all unit replay integration

# A smaller quarantine than ASan's 256 MiB default, so the memory bounds the
# integration suite asserts (streaming uploads/downloads) hold under ASan too.
asan:
	ASAN_OPTIONS=$${ASAN_OPTIONS:-quarantine_size_mb=32} $(MAKE) BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
		SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" test

fuzz:
	@command -v clang >/dev/null || { echo "make fuzz needs clang"; exit 1; }
	$(MAKE) BUILD=build-fuzz CC=clang WERROR= OPT="-O1 -g" SAN="-fsanitize=fuzzer-no-link,address,undefined" build-fuzz/libdevpi.a
	@set -e; mkdir -p build-fuzz/fuzz; for f in $(FUZZ_SRCS); do n=$$(basename $$f .c); \
		clang -std=gnu11 -D_GNU_SOURCE -I. $(PKG_CFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined \
			-o build-fuzz/fuzz/$$n $$f build-fuzz/libdevpi.a $(PKG_LIBS) -lpthread -lm; \
		mkdir -p build-fuzz/corpus/$$n; \
		build-fuzz/fuzz/$$n -max_total_time=$(FUZZ_SECONDS) -max_len=65536 build-fuzz/corpus/$$n tests/fuzz/corpus/$$n; done

bench: all
	@scripts/bench-deps.sh
	$(PY) bench/run.py --bin $(abspath $(BIN)) $(BENCH_ARGS)

check:
	@scripts/check.sh

clean:
	rm -rf build build-asan build-fuzz

-include $(OBJS:.o=.d) $(BUILD)/obj/main.d
