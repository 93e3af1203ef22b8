# jobwrap -- see README.md.  `make demo` and `make check` install what is
# missing (as root) and do everything else.

PREFIX	?= /usr/local
DESTDIR	?=
BINDIR	 = $(PREFIX)/bin
MANDIR	 = $(PREFIX)/share/man
DATADIR	 = $(PREFIX)/share/jobwrap

CC	?= cc
PYTHON	?= /usr/bin/python3
PKGS	 = inih jansson libseccomp
WARN	 = -Wall -Wextra -Wshadow -Wconversion -Wstrict-prototypes \
	   -Wmissing-prototypes -Wformat=2 -Werror
CFLAGS	?= -O2 -g
ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE $(WARN) -Iinclude $(CFLAGS) \
	     $$(pkg-config --cflags $(PKGS))
LIBS	 = $$(pkg-config --libs $(PKGS))
STATIC_LIBS = $$(pkg-config --static --libs $(PKGS))
SAN	 = -fsanitize=address,undefined -fno-sanitize-recover=all \
	   -fno-omit-frame-pointer

MODULES	 = config ini_load duration signame json clock log wfd events \
	   status tail spawn proctree relay report outcome retry literal lines notify said \
	   runs inspect reap cancel follow syscalls sandbox procid \
	   supervisor
OBJS	 = $(MODULES:%=build/obj/%.o)
SOBJS	 = $(MODULES:%=build/san/%.o)
HEADERS	 = $(wildcard include/*.h)
UNIT	 = duration signame config json retry literal lines
HELPERS	 = jwchild jwnotify jwsys

# Debian packages: to build, to test, to benchmark.
DEPS_BUILD = gcc make pkg-config libinih-dev libseccomp-dev libjansson-dev
DEPS_TEST  = libcmocka-dev python3 python3-pytest python3-jsonschema \
	     valgrind procps util-linux nodejs clang-format clang-tidy cppcheck
DEPS_TEST += clang libclang-rt-14-dev
DEPS_BENCH = hyperfine tini dumb-init coreutils

.PHONY: all deps deps-bench demo check test unit integration bench \
	install uninstall clean
.PHONY: fuzz fuzz-smoke

all: shim/jobwrap

# Static: no dynamic loading at start-up, and only the libc code jobwrap
# uses is mapped (peak RSS 0.9 MB instead of 1.9 MB).
shim/jobwrap: build/obj/main.o $(OBJS)
	@echo "LD $@ (static)"
	@$(CC) $(CFLAGS) -static -o $@ build/obj/main.o $(OBJS) $(STATIC_LIBS)

# The same objects linked dynamically: valgrind cannot follow malloc in a
# static binary, so its leak check runs on this one.
build/dyn/jobwrap: build/obj/main.o $(OBJS) | build/dyn
	@echo "LD $@"
	@$(CC) $(CFLAGS) -o $@ build/obj/main.o $(OBJS) $(LIBS)

build/obj/%.o: shim/%.c $(HEADERS) | build/obj
	@echo "CC $<"
	@$(CC) $(ALL_CFLAGS) -c -o $@ $<

build/san/jobwrap: build/san/main.o $(SOBJS)
	@echo "LD $@"
	@$(CC) $(SAN) $(CFLAGS) -o $@ build/san/main.o $(SOBJS) $(LIBS)

build/san/%.o: shim/%.c $(HEADERS) | build/san
	@echo "CC $< (ASan+UBSan)"
	@$(CC) $(ALL_CFLAGS) $(SAN) -c -o $@ $<

build/obj build/san build/dyn build/unit build/helpers:
	mkdir -p $@

# Unit tests link the modules, built with sanitizers.
build/unit/%: tests/unit/test_%.c $(SOBJS) | build/unit
	@echo "CC $<"
	@$(CC) $(ALL_CFLAGS) $(SAN) -o $@ $< $(SOBJS) $(LIBS) \
	    $$(pkg-config --libs cmocka)

# Test children must not be ASan builds: they run under seccomp later.
build/helpers/%: tests/helpers/%.c | build/helpers
	@echo "CC $<"
	@$(CC) -std=gnu11 $(WARN) -O2 -o $@ $<

# Bench: what the seccomp filter costs to build and to load (issue 5).
build/bench/seccomp_cost: tests/bench/seccomp_cost.c build/obj/sandbox.o \
	    build/obj/syscalls.o $(HEADERS)
	@mkdir -p $(@D)
	@echo "CC $<"
	@$(CC) $(ALL_CFLAGS) -static -o $@ $< build/obj/sandbox.o \
	    build/obj/syscalls.o $$(pkg-config --static --libs libseccomp jansson)

# Fuzzing (issue 6): libFuzzer targets tests/fuzz/fuzz_TARGET.c, linked
# with the modules they drive, built by clang with the same sanitizers.
# `make fuzz` runs each for FUZZ_TIME seconds; `make check` (tests/run.sh)
# runs each for FUZZ_SMOKE seconds.
FUZZ	 = config duration signame json notify
FUZZ_TIME ?= 60
FUZZ_SMOKE ?= 4
export FUZZ_SMOKE
FUZZ_CC	?= clang
FUZZ_CFLAGS = -std=gnu11 -D_GNU_SOURCE $(filter-out -Werror,$(WARN)) \
	     -Iinclude -g -O1 $(SAN) $$(pkg-config --cflags $(PKGS))
build/fuzz/config: $(patsubst %,build/fuzzobj/%.o,config ini_load \
	    duration signame json retry syscalls)
build/fuzz/duration: build/fuzzobj/duration.o
build/fuzz/signame: build/fuzzobj/signame.o
build/fuzz/json: build/fuzzobj/json.o
build/fuzz/notify: $(patsubst %,build/fuzzobj/%.o,notify said json)

build/fuzzobj/%.o: shim/%.c $(HEADERS)
	@mkdir -p $(@D)
	@echo "CC $< (clang, fuzzer+ASan+UBSan)"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

build/fuzz/%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(HEADERS)
	@mkdir -p $(@D)
	@echo "LD $@ (libFuzzer)"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< \
	    $(filter %.o,$^) $(LIBS)

fuzz: deps
	@$(MAKE) --no-print-directory $(FUZZ:%=build/fuzz/%)
	@sh tests/fuzz/run.sh $(FUZZ_TIME) $(FUZZ)

fuzz-smoke: $(FUZZ:%=build/fuzz/%)
	@sh tests/fuzz/run.sh $(FUZZ_SMOKE) $(FUZZ)

deps:
	@sh tests/deps.sh $(DEPS_BUILD) $(DEPS_TEST)

deps-bench:
	@sh tests/deps.sh $(DEPS_BUILD) $(DEPS_BENCH)

demo: deps
	@$(MAKE) --no-print-directory shim/jobwrap
	@sh tests/demo.sh

check: deps
	@$(MAKE) --no-print-directory test

test: shim/jobwrap build/san/jobwrap build/dyn/jobwrap $(UNIT:%=build/unit/%) \
	    $(HELPERS:%=build/helpers/%) $(FUZZ:%=build/fuzz/%)
	@sh tests/run.sh $(PYTHON) $(UNIT)

# Static analysis (issue 6), also part of `make check`: the files each of
# tests/lint.sh's tools looks at.  Configuration: .clang-format,
# .clang-tidy, .cppcheck-suppressions.
LINT_FORMAT   = shim/*.c include/*.h tests/unit/*.c tests/helpers/*.c \
		tests/bench/*.c tests/fuzz/*.c tests/fuzz/*.h
LINT_CPPCHECK = shim tests/unit tests/helpers tests/bench tests/fuzz
LINT_TIDY     = shim/*.c
export LINT_FORMAT LINT_CPPCHECK LINT_TIDY
.PHONY: lint

lint:
	@sh tests/lint.sh

bench: deps-bench
	@$(MAKE) --no-print-directory shim/jobwrap $(HELPERS:%=build/helpers/%) \
	    build/bench/seccomp_cost
	@sh tests/bench/run.sh

# Soak (issue 6): SOAK_RUNS supervisions (1000) of random adversarial
# children under random supervisor kills, SOAK_JOBS at a time (4), then
# --reap and the invariants; SOAK_SEED=S SOAK_ONLY=N,... replays runs.
# About a minute; not part of check.
.PHONY: soak
soak: shim/jobwrap $(HELPERS:%=build/helpers/%)
	@$(PYTHON) tests/soak/soak.py

install: shim/jobwrap
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(DATADIR)
	install -m 755 shim/jobwrap $(DESTDIR)$(BINDIR)/jobwrap
	install -m 644 shim/jobwrap.1 $(DESTDIR)$(MANDIR)/man1/jobwrap.1
	install -m 644 shim/jobwrap.ini.5 $(DESTDIR)$(MANDIR)/man5/jobwrap.ini.5
	install -m 644 conf/*.ini $(DESTDIR)$(DATADIR)/
	install -m 644 include/jobwrap/*.schema.json $(DESTDIR)$(DATADIR)/

# Exactly what install put there: a local file in $(DATADIR) stays, and
# so does $(DATADIR) then; shared directories (bin, man1...) always stay.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/jobwrap $(DESTDIR)$(MANDIR)/man1/jobwrap.1 \
	    $(DESTDIR)$(MANDIR)/man5/jobwrap.ini.5 \
	    $(patsubst conf/%,$(DESTDIR)$(DATADIR)/%,$(wildcard conf/*.ini)) \
	    $(patsubst include/jobwrap/%,$(DESTDIR)$(DATADIR)/%,$(wildcard \
	    include/jobwrap/*.schema.json))
	rmdir $(DESTDIR)$(DATADIR) 2>/dev/null || true

clean:
	rm -rf build shim/jobwrap
