# Starling build.  `make` builds bin/; `make asan` builds bin/asan/ with
# AddressSanitizer + UndefinedBehaviorSanitizer; `make test` runs every test.
CC      ?= gcc
# pkg-config module -> the Debian package that ships it (scripts/deps.sh
# installs them all).  The flags are read when make parses this file, so the
# targets that install packages first (run, test, bench, bench-compare) build
# through a second $(MAKE) that parses it again with the packages in place.
PKGS    := libxml-2.0 liburing openssl sqlite3 libidn inih
PKG_DEB := libxml-2.0=libxml2-dev liburing=liburing-dev openssl=libssl-dev \
           sqlite3=libsqlite3-dev libidn=libidn-dev inih=libinih-dev jemalloc=libjemalloc-dev \
           libsystemd=libsystemd-dev
PKG_CONFIG ?= pkg-config
PKG_MISSING := $(shell command -v $(PKG_CONFIG) >/dev/null 2>&1 || { echo pkg-config; exit; }; \
	for m in $(PKGS) jemalloc libsystemd; do $(PKG_CONFIG) --exists $$m || echo $$m; done)
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
# sd_notify for the two daemons only (lib/notify.c): not in LDLIBS, so
# starlingctl, the bench, the tests and the fuzz targets do not link it.
SD_LIBS    := $(shell $(PKG_CONFIG) --libs libsystemd 2>/dev/null)
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -MMD -MP -I. $(PKG_CFLAGS)
LDLIBS  := $(PKG_LIBS) -lpthread
JEMALLOC := -ljemalloc
DEPS    ?= sh scripts/deps.sh

BUILD   ?= build
BIN     ?= bin
ifeq ($(ASAN),1)
BUILD   := build/asan
BIN     := bin/asan
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
JEMALLOC :=
endif

LIB_SRC  := $(filter-out lib/notify.c,$(wildcard lib/*.c)) $(wildcard tls/*.c)
NOTIFY_O := $(BUILD)/lib/notify.o
CM_SRC   := $(filter-out cm/main.c,$(wildcard cm/*.c))
CORE_SRC := $(filter-out core/main.c,$(wildcard core/*.c))
CTL_SRC  := $(wildcard ctl/*.c)
BENCH_SRC := $(wildcard bench/*.c)
TEST_SRC := $(wildcard tests/unit/test_*.c)

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))
LIB_A  := $(BUILD)/libstarling.a
CM_A   := $(BUILD)/libcm.a
CORE_A := $(BUILD)/libcore.a
TESTS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(TEST_SRC))
PROGS  := $(BIN)/starling-cm $(BIN)/starling-core $(BIN)/starlingctl
# Test clients the e2e tests run (tests/tools): what Python cannot do.
TOOLS  := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(wildcard tests/tools/*.c))
ifneq ($(BENCH_SRC),)
PROGS  += $(BIN)/starling-bench $(BIN)/starling-hostile
# Measuring tools that link the library (docs/performance.md says how each is run).
TOOLS  += $(BUILD)/bench/tls_floor
endif

.PHONY: all install asan test unit e2e fuzz fuzz-build fuzz-smoke deps deps-peers run clean bench bench-compare pkgcheck clangcheck
all: $(PROGS) $(TESTS) $(TOOLS)

# Every compile waits for this check, so a missing package stops the build
# with the package's name instead of a compiler error about a header.
pkgcheck:
ifneq ($(PKG_MISSING),)
	@for m in $(PKG_MISSING); do d=$$m; for e in $(PKG_DEB); do \
	  [ "$${e%%=*}" = "$$m" ] && d=$${e#*=}; done; \
	  echo "make: pkg-config cannot find '$$m': install the Debian package $$d (make deps installs everything)" >&2; \
	done; exit 1
endif

$(BUILD)/%.o: %.c | pkgcheck
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIB_A): $(call obj,$(LIB_SRC))
	@rm -f $@; $(AR) rcs $@ $^
$(CM_A): $(call obj,$(CM_SRC))
	@rm -f $@; $(AR) rcs $@ $^
$(CORE_A): $(call obj,$(CORE_SRC))
	@rm -f $@; $(AR) rcs $@ $^

$(BIN)/starling-cm: $(call obj,cm/main.c) $(NOTIFY_O) $(CM_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(SD_LIBS) $(JEMALLOC)
$(BIN)/starling-core: $(call obj,core/main.c) $(NOTIFY_O) $(CORE_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(SD_LIBS) $(JEMALLOC)
$(BIN)/starlingctl: $(call obj,$(CTL_SRC)) $(CORE_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BIN)/starling-bench: $(call obj,$(BENCH_SRC)) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bench/tls_floor: $(call obj,bench/tools/tls_floor.c) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/starling-hostile: $(call obj,bench/tools/hostile.c)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(CM_A) $(CORE_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tools/%: $(BUILD)/tests/tools/%.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

asan:
	$(MAKE) ASAN=1 all

# Fuzz targets: one per parser, built with clang's libFuzzer + ASan/UBSan.
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRC))
FUZZ_CFLAGS := -g -O1 -std=gnu11 -D_GNU_SOURCE -I. $(PKG_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
# Headers too: the fuzz builds keep no dependency files.
HDRS := $(wildcard lib/*.h tls/*.h cm/*.h core/*.h bench/*.h)
build/fuzz/%: tests/fuzz/%.c $(LIB_SRC) $(CM_SRC) $(HDRS) | pkgcheck clangcheck
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $< $(LIB_SRC) $(CM_SRC) $(LDLIBS)
# fuzz_core drives the routing core instead of the cm (an explicit rule wins
# over the pattern above); core/main.c is left out as cm/main.c is.
build/fuzz/fuzz_core: tests/fuzz/fuzz_core.c $(LIB_SRC) $(CORE_SRC) $(HDRS) | pkgcheck clangcheck
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $< $(LIB_SRC) $(CORE_SRC) $(LDLIBS)
# fuzz_bench reads a server's stream the way starling-bench does.
BENCH_FUZZ_SRC := bench/xmpp.c bench/cut.c bench/faults.c bench/hist.c bench/opts.c
build/fuzz/fuzz_bench: tests/fuzz/fuzz_bench.c $(LIB_SRC) $(BENCH_FUZZ_SRC) $(HDRS) | pkgcheck clangcheck
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $< $(LIB_SRC) $(BENCH_FUZZ_SRC) $(LDLIBS)
# libFuzzer comes with clang's runtime libraries, a package of its own.
clangcheck:
	@command -v clang >/dev/null || { echo "make: clang not found: install the Debian package clang (make deps)" >&2; exit 1; }
	@[ -e "$$(clang -print-resource-dir)/lib/linux/libclang_rt.fuzzer-x86_64.a" ] || \
	  { echo "make: clang has no libFuzzer: install the Debian package libclang-rt-14-dev (make deps)" >&2; exit 1; }
fuzz-build: $(FUZZ_BIN)
# Every target for FUZZ_SECONDS each (make fuzz FUZZ_SECONDS=3600 for a
# night), one after the other, over its seeds and what earlier runs found
# (build/fuzz/work/).  A crash stops the run; its input is kept in
# build/fuzz/findings/ (never in the tree) to become a seed and a test.  A
# target's tests/fuzz/<name>.dict, if there is one, gives the mutator its tokens.
FUZZ_SECONDS ?= 60
FUZZ_RUN = n=$$(basename $$f); c=tests/fuzz/corpus/$$n; \
	  d=; [ -f tests/fuzz/$$n.dict ] && d=-dict=tests/fuzz/$$n.dict; \
	  mkdir -p build/fuzz/work/$$n build/fuzz/findings/$$n; \
	  echo "fuzz $$n"; $$f $$d -max_len=4096 -artifact_prefix=build/fuzz/findings/$$n/
fuzz: fuzz-build
	@for f in $(FUZZ_BIN); do $(FUZZ_RUN) -max_total_time=$(FUZZ_SECONDS) \
	  build/fuzz/work/$$n $$c >build/fuzz/$$n.log 2>&1 \
	    || { tail -40 build/fuzz/$$n.log; exit 1; }; \
	  grep -h "^#.*DONE" build/fuzz/$$n.log | tail -1; done
# A short run of every target over its seed corpus plus fresh inputs.
fuzz-smoke: fuzz-build
	@for f in $(FUZZ_BIN); do $(FUZZ_RUN) -runs=20000 \
	  build/fuzz/work/$$n $$c >build/fuzz/$$n.log 2>&1 \
	    || { tail -40 build/fuzz/$$n.log; exit 1; }; done

deps:
	@$(DEPS)
# Prosody and ejabberd for the comparison; their install step also makes sure
# the Debian packages' own instances are not running.
deps-peers: deps
	@$(DEPS) peers
	@bash bench/peers/prosody.sh install >/dev/null
	@bash bench/peers/ejabberd.sh install >/dev/null

# The standard load runs (docs/bench.md); results go into docs/performance.md.
# BENCH_ARGS passes options to suite.sh (e.g. --quick --out FILE).
bench: deps
	$(MAKE) all
	bash bench/suite.sh $(BENCH_ARGS)
bench-compare: deps-peers
	$(MAKE) all
	bash bench/suite.sh --servers starling,prosody,ejabberd $(BENCH_ARGS)

unit: all
	@sh tests/run_unit.sh $(BUILD)/tests

PYTEST := PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -m pytest -q -p no:cacheprovider
e2e: all
	STARLING_BIN=$(CURDIR)/$(BIN) $(PYTEST) tests/e2e

test: deps-peers
	$(MAKE) all
	$(MAKE) asan
	$(MAKE) fuzz-smoke
	sh tests/run_unit.sh build/asan/tests
	sh tests/run_unit.sh build/tests
	STARLING_BIN=$(CURDIR)/bin/asan $(PYTEST) tests/e2e
	STARLING_BIN=$(CURDIR)/bin $(PYTEST) tests/e2e

# Not `run: deps all`: the flags of `all` must be read after deps ran.
# CMS=N: N connection managers in front of the core (scripts/run.sh).
CMS ?= 1
run: deps
	$(MAKE) all
	@STARLING_CMS=$(CMS) sh scripts/run.sh

# Installs the programs, the systemd units, the man pages (starling.conf.5
# made from docs/configuration.md, so it never lags behind) and, unless one is
# there already, a default configuration with system paths (docs/operations.md).
# DESTDIR stages the tree for a package; nothing here needs root otherwise.
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
# The repository's relative paths become those the units provide.
CONF_SED := -e 's|= var/cert.pem|= $(SYSCONFDIR)/starling/cert.pem|' \
	-e 's|= var/key.pem|= $(SYSCONFDIR)/starling/key.pem|' \
	-e 's|= unix:var/core.sock|= unix:/run/starling/core.sock|' \
	-e 's|= var/starling.db|= /var/lib/starling/starling.db|'
UNIT_SED := -e 's|/usr/local/bin/|$(BINDIR)/|' -e 's| /etc/starling/| $(SYSCONFDIR)/starling/|'
install: $(BIN)/starling-cm $(BIN)/starling-core $(BIN)/starlingctl
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
	  $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSCONFDIR)/starling
	install -m 0755 $^ $(DESTDIR)$(BINDIR)/
	for u in starling-core.service starling-cm@.service; do \
	  sed $(UNIT_SED) dist/$$u >$(DESTDIR)$(UNITDIR)/$$u && chmod 0644 $(DESTDIR)$(UNITDIR)/$$u; done
	install -m 0644 dist/starling.sysusers $(DESTDIR)$(SYSUSERSDIR)/starling.conf
	python3 scripts/mkconfman.py docs/configuration.md >$(DESTDIR)$(MANDIR)/man5/starling.conf.5
	install -m 0644 dist/man/starling-core.8 dist/man/starling-cm.8 dist/man/starlingctl.8 \
	  $(DESTDIR)$(MANDIR)/man8/
	@c=$(DESTDIR)$(SYSCONFDIR)/starling/starling.conf; if [ -e $$c ]; then \
	  echo "$$c exists: left as it is"; else \
	  sed $(CONF_SED) etc/starling.conf >$$c && chmod 0640 $$c; fi

clean:
	rm -rf build bin

-include $(shell find build $(BUILD) -name '*.d' 2>/dev/null | sort -u)
