# mod_lbfarm -- build, test, demo.  See README.md.
#
#   make            build .libs/mod_lbfarm.so (apxs) and tools/lbf_member
#   make demo       install what is missing, build, run the demo balancer
#   make test       install what is missing, build, run every suite
#                   (unit, integration, both again under ASan+UBSan, a
#                   short fuzz run, the benchmarks' smoke mode)
#   make bench      the benchmarks in bench/ (minutes; not part of test)
#   make fuzz       the libFuzzer targets, FUZZ_SECONDS each (600)
#   make install    the module, its Debian .load/.conf (an edited .conf is
#                   kept: the new one goes to .conf.dist), the push agent,
#                   the key tool, the agent's systemd unit (not enabled),
#                   examples; PREFIX=/usr/local, DESTDIR for staging
#                   (tools/lbf-install.sh lists every file).  Enables and
#                   restarts nothing: a2enmod proxy_lbfarm is yours to run
#   make uninstall  removes exactly what make install installed
#   make deb        the Debian package libapache2-mod-lbfarm (debian/),
#                   built in a copy of the source files, into DEBDIR
#                   (build/deb): dpkg -i build/deb/libapache2-mod-lbfarm_*.deb
#
# Test builds: `make test-module` builds build/test/mod_lbfarm.so with
# -DLBF_TEST_HOOKS, which adds test-only handlers (mod_lbfarm_testhooks.c:
# SetHandler lbfarm-test-segment writes into the live shared segment, as a
# buggy child could) for t/08_carry_guard.t, the one test that needs them
# (it builds this module itself when LBF_MODULE is not set).  The ASan
# module (make asan-module, test-only too) has them as well, so that t/08
# runs under ASan.  .libs/mod_lbfarm.so, the module `make install`
# installs, never has them.

APXS     ?= apxs
CC       ?= gcc
HTTPD_INC := $(shell $(APXS) -q INCLUDEDIR 2>/dev/null)
APR_INC   := $(shell apr-1-config --includes --cppflags 2>/dev/null)
WARN      := -Wall -Wextra -Werror
# The pure core (no httpd types) and the httpd glue: every file of each
# layer, so a new lbfarm_<concern>.c or mod_lbfarm_<concern>.c is built
# without touching this file.
CORE_SRC  := $(sort $(wildcard lbfarm_*.c))
GLUE_SRC  := $(sort $(wildcard mod_lbfarm*.c))
HDRS      := lbfarm_shm.h $(wildcard include/*.h)
SAN       := -fsanitize=address,undefined -fno-omit-frame-pointer \
             -fno-sanitize-recover=undefined
TEST_HOOKS := -DLBF_TEST_HOOKS
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)
UNIT_SRC  := $(wildcard t/unit/check_*.c)
PROVE     ?= prove

.PHONY: all deps module member unit unit-asan asan-module test-module \
        integration integration-asan test demo bench bench-smoke \
        bench-status clean install uninstall deb

all: module member

deps:
	@sh tools/install-deps.sh

module: .libs/mod_lbfarm.so

.libs/mod_lbfarm.so: $(GLUE_SRC) $(CORE_SRC) $(HDRS)
	$(APXS) -c -Wc,-std=gnu11 -Wc,-Wall -Wc,-Wextra -Wc,-Werror -I. -Iinclude \
	    -o mod_lbfarm.so $(GLUE_SRC) $(CORE_SRC) -lcrypto

member: tools/lbf_member

tools/lbf_member: tools/lbf_member.c
	$(CC) -std=gnu11 -O2 -g $(WARN) -pthread -o $@ $< -lcrypto

# Unit tests: the pure core linked with Check, plain and sanitized.
build/unit/check_all: $(UNIT_SRC) $(CORE_SRC) $(HDRS)
	@mkdir -p build/unit
	$(CC) -std=gnu11 -O1 -g $(WARN) -I. -Iinclude -pthread -o $@ \
	    $(UNIT_SRC) $(CORE_SRC) $(CHECK_LIBS) -lcrypto

build/unit-asan/check_all: $(UNIT_SRC) $(CORE_SRC) $(HDRS)
	@mkdir -p build/unit-asan
	$(CC) -std=gnu11 -O1 -g $(WARN) $(SAN) -I. -Iinclude -pthread -o $@ \
	    $(UNIT_SRC) $(CORE_SRC) $(CHECK_LIBS) -lcrypto

unit: build/unit/check_all
	CK_FORK=yes build/unit/check_all

unit-asan: build/unit-asan/check_all
	CK_FORK=yes ASAN_OPTIONS=detect_leaks=1 build/unit-asan/check_all

# The module built with ASan+UBSan; httpd (not instrumented) preloads
# libasan when the integration suite runs it (see t/lib/LBFTest.pm).
asan-module: build/asan/mod_lbfarm.so

build/asan/mod_lbfarm.so: $(GLUE_SRC) $(CORE_SRC) $(HDRS)
	@mkdir -p build/asan
	$(CC) -std=gnu11 -shared -fPIC -O1 -g $(WARN) $(SAN) $(TEST_HOOKS) \
	    -I. -Iinclude -I$(HTTPD_INC) $(APR_INC) -o $@ $(GLUE_SRC) \
	    $(CORE_SRC) -lcrypto

# The module with the test hooks (see the top of this file).
test-module: build/test/mod_lbfarm.so

build/test/mod_lbfarm.so: $(GLUE_SRC) $(CORE_SRC) $(HDRS)
	@mkdir -p build/test
	$(CC) -std=gnu11 -shared -fPIC -O2 -g $(WARN) $(TEST_HOOKS) -I. \
	    -Iinclude -I$(HTTPD_INC) $(APR_INC) -o $@ $(GLUE_SRC) $(CORE_SRC) \
	    -lcrypto

integration: all test-module
	$(PROVE) -v -I t/lib t/

integration-asan: asan-module member
	LBF_MODULE=$(CURDIR)/build/asan/mod_lbfarm.so LBF_ASAN=1 \
	    $(PROVE) -I t/lib t/

# The whole suite, in order: build, unit, integration, the same two under
# ASan+UBSan, a short bounded fuzz run, and the benchmarks' smoke mode.
test: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) integration
	$(MAKE) unit-asan
	$(MAKE) integration-asan
	$(MAKE) fuzz-smoke
	$(MAKE) bench-smoke

demo: deps
	$(MAKE) all
	sh tools/demo.sh

bench: deps
	$(MAKE) all build/bench/pickbench
	sh bench/run.sh
	sh bench/quality.sh

# Every front for a second or two, so the bench cannot silently rot.
bench-smoke: all build/bench/pickbench
	sh bench/run.sh --smoke
	sh bench/quality.sh --smoke
	build/bench/pickbench pick 0.05
	build/bench/pickbench hold 0.05
	build/bench/pickbench exact 100000

# The status page and JSON with 1000 members (bench/status_bench.sh).
bench-status: all
	sh bench/status_bench.sh

build/bench/pickbench: bench/pickbench.c $(CORE_SRC) $(HDRS)
	@mkdir -p build/bench
	$(CC) -std=gnu11 -O2 -g $(WARN) -I. -Iinclude -pthread -o $@ \
	    bench/pickbench.c $(CORE_SRC) -lcrypto

# Install paths (make install / uninstall; debian/rules sets them for the
# package: PREFIX=/usr SBINDIR=/usr/sbin UNITDIR=/lib/systemd/system ...).
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
SBINDIR   ?= $(PREFIX)/sbin
MANDIR    ?= $(PREFIX)/share/man
DOCDIR    ?= $(PREFIX)/share/doc/mod_lbfarm
UNITDIR   ?= $(PREFIX)/lib/systemd/system
MODDIR    ?= $(strip $(or $(shell $(APXS) -q LIBEXECDIR 2>/dev/null), \
                 /usr/lib/apache2/modules))
APACHE_CONFDIR ?= /etc/apache2
DEBDIR    ?= build/deb
LBF_INSTALL_ENV = DESTDIR='$(DESTDIR)' MODDIR='$(MODDIR)' \
    APACHE_CONFDIR='$(APACHE_CONFDIR)' BINDIR='$(BINDIR)' \
    SBINDIR='$(SBINDIR)' UNITDIR='$(UNITDIR)' MANDIR='$(MANDIR)' \
    DOCDIR='$(DOCDIR)'

install: module
	$(LBF_INSTALL_ENV) sh tools/lbf-install.sh install

uninstall:
	$(LBF_INSTALL_ENV) sh tools/lbf-install.sh uninstall

# dpkg-buildpackage in a copy of the files git knows or would add (git
# ls-files --cached --others --exclude-standard: no build output), so the
# work tree gets no build debris; the .deb, .changes and .buildinfo land
# in DEBDIR.
deb:
	@command -v dpkg-buildpackage >/dev/null 2>&1 && command -v dh \
	    >/dev/null 2>&1 || { echo "make deb: needs dpkg-dev and" \
	    "debhelper (make deps installs them)" >&2; exit 1; }
	@git rev-parse --git-dir >/dev/null 2>&1 || { echo "make deb: not a" \
	    "git checkout; run dpkg-buildpackage -us -uc -b here" >&2; exit 1; }
	rm -rf '$(DEBDIR)/src' && mkdir -p '$(DEBDIR)/src/mod_lbfarm'
	git ls-files -z --cached --others --exclude-standard | \
	    xargs -0 cp -P --parents -t '$(DEBDIR)/src/mod_lbfarm'
	cd '$(DEBDIR)/src/mod_lbfarm' && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	    dpkg-buildpackage -us -uc -b
	mv -f '$(DEBDIR)'/src/*.deb '$(DEBDIR)'/src/*.changes \
	    '$(DEBDIR)'/src/*.buildinfo '$(DEBDIR)/'
	rm -rf '$(DEBDIR)/src'
	@ls -1 '$(DEBDIR)'/*.deb

clean:
	rm -rf .libs *.lo *.slo *.la *.o build tools/lbf_member

# ---- fuzzing (fuzz/) -- begin ---------------------------------------------
# libFuzzer targets over the pure core, one per parser of outside bytes
# (fuzz/README.md lists what each checks): push, conf (directive values),
# admin (form, same-origin check), heartbeat, query, session (session and
# move cookies, Cookie header), instr (instruction header), route.
# clang -fsanitize=fuzzer,address,undefined; needs clang and
# libclang-rt-14-dev.  Seeds in fuzz/corpus/<target>/ are read only: what a
# run learns goes to build/fuzz/corpus/<target>/, a crash to
# build/fuzz/<target>-crash-<sha1> (replay: build/fuzz/fuzz_<target> FILE).
#   make fuzz-smoke   each target for at most FUZZ_SMOKE_SECONDS (14: eight
#                     targets in ~2 min) / FUZZ_SMOKE_RUNS inputs
#                     on its corpus; fails on a crash (run by make test)
#   make fuzz         each target for FUZZ_SECONDS (default 600)
#   make fuzz-long    each target for FUZZ_LONG_RUNS inputs (10^7, no time
#                     limit), one at a time under $(FUZZ_NICE); fails on a
#                     crash (not part of make test: see fuzz/README.md)
# FUZZ_DEFS: extra -D flags for the targets (none needed by default).
FUZZ_CC         ?= clang
FUZZ_SECONDS    ?= 600
FUZZ_SMOKE_RUNS ?= 5000000
FUZZ_SMOKE_SECONDS ?= 14
FUZZ_LONG_RUNS  ?= 10000000
FUZZ_NICE       ?= nice -n 10
FUZZ_DEFS       ?=
FUZZ_TARGETS    := push conf admin heartbeat query session instr route
FUZZ_CORE       := $(CORE_SRC)
FUZZ_SAN        := -fsanitize=fuzzer,address,undefined \
                   -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_OPTS       := -timeout=10 -rss_limit_mb=2048 -print_final_stats=1

.PHONY: fuzz fuzz-smoke fuzz-long fuzz-build

fuzz-build: $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)

build/fuzz/fuzz_%: fuzz/fuzz_%.c fuzz/fz_check.h $(FUZZ_CORE) $(HDRS)
	@command -v $(FUZZ_CC) >/dev/null 2>&1 || { echo "fuzz: $(FUZZ_CC)" \
	    "not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }
	@mkdir -p build/fuzz
	$(FUZZ_CC) -std=gnu11 -O1 -g $(WARN) $(FUZZ_SAN) $(FUZZ_DEFS) -I. \
	    -Iinclude -o $@ $< $(FUZZ_CORE) -lcrypto

# $(1): seconds (0: no limit), $(2): extra libFuzzer options, $(3): a
# command prefix (nice)
define lbf_fuzz_run
	@set -e; for t in $(FUZZ_TARGETS); do \
	    mkdir -p build/fuzz/corpus/$$t; \
	    echo "fuzz: $$t, at most $(1) s (0: no limit) $(2)"; \
	    t0=$$(date +%s); \
	    $(3) build/fuzz/fuzz_$$t $(FUZZ_OPTS) -max_total_time=$(1) $(2) \
	        -dict=fuzz/$$t.dict -artifact_prefix=build/fuzz/$$t- \
	        build/fuzz/corpus/$$t fuzz/corpus/$$t \
	        2>build/fuzz/$$t.log || { tail -n 40 build/fuzz/$$t.log; \
	        echo "fuzz: $$t FAILED (log: build/fuzz/$$t.log)" >&2; \
	        exit 1; }; \
	    grep -E '^(Done|stat::number_of_executed_units)' \
	        build/fuzz/$$t.log; \
	    echo "fuzz: $$t passed in $$(( $$(date +%s) - t0 )) s"; \
	done
endef

fuzz-smoke: fuzz-build
	$(call lbf_fuzz_run,$(FUZZ_SMOKE_SECONDS),-runs=$(FUZZ_SMOKE_RUNS))

fuzz: fuzz-build
	$(call lbf_fuzz_run,$(FUZZ_SECONDS),)

fuzz-long: fuzz-build
	$(call lbf_fuzz_run,0,-runs=$(FUZZ_LONG_RUNS),$(FUZZ_NICE))

# ---- fuzzing (fuzz/) -- end -----------------------------------------------
