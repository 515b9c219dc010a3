# berth — build, test and demo. `make` builds every binary; `make deps` installs the Debian
# packages the build, tests and benchmarks need; `make test` runs the unit tests and the
# integration tests under ASan+UBSan, the concurrency tests under TSan and the VM tests on the
# optimised build; `make demo` runs berth's main job end to end.

CXX      ?= g++
.SECONDEXPANSION:
# SAN=asan (AddressSanitizer + UndefinedBehaviorSanitizer) or SAN=tsan (ThreadSanitizer)
# builds everything with that sanitizer into its own dir (build-asan/, build-tsan/), at -O1
# with frame pointers and line tables, so every report has a whole stack with file:line (-g1
# compiles in half the time of -g); a finding ends the process.
SAN      ?=
ifeq ($(SAN),asan)
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all
else ifeq ($(SAN),tsan)
SAN_FLAGS := -fsanitize=thread
else ifneq ($(SAN),)
$(error SAN=$(SAN): use SAN=asan, SAN=tsan or no SAN)
endif
ifneq ($(SAN),)
BUILD    ?= build-$(SAN)
CXXFLAGS ?= -O1 -g1 -fno-omit-frame-pointer
endif
BUILD    ?= build
# The optimised build the sanitizer builds take their shim from (see berth-shim below).
PLAIN_BUILD ?= build
PKGS     := libmicrohttpd libcurl libsystemd RapidJSON libcrypto libarchive libseccomp libcap libmnl libnftables
CXXFLAGS ?= -O2 -g
CXXFLAGS += $(SAN_FLAGS) -std=c++20 -Wall -Wextra -Werror -I. -MMD -MP -D_GNU_SOURCE
LDFLAGS  += $(SAN_FLAGS) -Wl,--as-needed

# pkg-config is evaluated lazily so `make deps` works before the packages exist.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
GTEST_LIBS = $(shell pkg-config --libs gtest_main gmock 2>/dev/null)

# Every .cpp under these folders that is not a main() goes into libberth.a.
LIB_DIRS  := common cgroups sandbox fetcher isolators agent agent/api
LIB_SRCS  := $(filter-out %/main.cpp,$(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.cpp) $(wildcard $(d)/*/*.cpp)))
LIB_SRCS  := $(filter-out agent/api/%/main.cpp sandbox/shim/%,$(sort $(LIB_SRCS)))
LIB_OBJS  := $(LIB_SRCS:%.cpp=$(BUILD)/%.o)
SHIM_SRCS := $(wildcard sandbox/shim/*.cpp)
SHIM_OBJS := $(SHIM_SRCS:%.cpp=$(BUILD)/%.o)
# The CLI talks to berthd only through the API: its own archive, which berthd and the shim do
# not link, so a call from them into cli/ fails the link.
CLI_SRCS  := $(filter-out cli/main.cpp,$(wildcard cli/*.cpp))
CLI_OBJS  := $(CLI_SRCS:%.cpp=$(BUILD)/%.o)

BINS := $(BUILD)/berthd $(BUILD)/berth-shim $(BUILD)/berth
# Benchmark drivers: one binary per bench/*.cpp (no berth code in them, except seccomp_floor, which
# links libberth for the program it measures). The ones that drive berthd through the integration
# harness are built by their own scripts
# (bench/limits_bench.sh, bench/api_latency.sh).
HARNESS_BENCHES := bench/limits_bench.cpp bench/api_latency.cpp
BENCH_BINS := $(patsubst bench/%.cpp,$(BUILD)/bench/%,$(filter-out $(HARNESS_BENCHES),$(wildcard bench/*.cpp)))

# Unit tests: one binary per folder under tests/ (not integration/, vm/, fixtures/).
UNIT_DIRS  := $(filter-out integration vm fixtures,$(notdir $(patsubst %/,%,$(wildcard tests/*/))))
UNIT_TESTS := $(foreach d,$(UNIT_DIRS),$(if $(wildcard tests/$(d)/*.cpp),$(BUILD)/tests/$(d)_test))
INTEG_SRCS := $(wildcard tests/integration/*.cpp)
INTEG_TEST := $(BUILD)/tests/integration_test
TEST_SUPPORT_SRCS := $(wildcard tests/fixtures/*.cpp)
TEST_SUPPORT_OBJS := $(TEST_SUPPORT_SRCS:%.cpp=$(BUILD)/%.o)

.SECONDARY:
.PHONY: all deps test unit-test integration-test concurrency-test vm-test test-bins concurrency-bins \
        demo clean bench FORCE
all: $(BINS)

deps:
	@./packaging/install-deps.sh

$(BUILD)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(BUILD)/libberth.a: $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/berthd: $(BUILD)/agent/main.o $(BUILD)/libberth.a
	$(CXX) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -pthread

$(BUILD)/libberth-cli.a: $(CLI_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/berth: $(BUILD)/cli/main.o $(BUILD)/libberth-cli.a $(BUILD)/libberth.a
	$(CXX) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -pthread

# The shim is kept small: linked statically it has no relocated library pages of its own
# (bench/RESULTS.md: PSS 162 kB static vs 341 kB dynamic per running task).
ifeq ($(SAN),)
$(BUILD)/berth-shim: $(SHIM_OBJS) $(BUILD)/libberth.a
	$(CXX) $(LDFLAGS) -static -o $@ $^
else
# A sanitizer build runs the optimised build's shim. g++ refuses -static with ASan or TSan
# (their runtimes intercept libc through the dynamic linker); -static-pie links, but the
# binary dies at startup (SIGSEGV in ASan init, g++ 12). A dynamic sanitized shim would
# not be the shim berth ships: its pre-exec child runs in the task's cgroup, under the task's
# memory limit, with the sanitizer's shadow memory. The shim's code runs under ASan+UBSan in
# the sandbox unit tests (launch plan, records, log writer, user, OCI spec).
$(BUILD)/berth-shim: FORCE
	@$(MAKE) --no-print-directory SAN= BUILD=$(PLAIN_BUILD) $(PLAIN_BUILD)/berth-shim
	@mkdir -p $(dir $@)
	@cmp -s $(PLAIN_BUILD)/berth-shim $@ || cp $(PLAIN_BUILD)/berth-shim $@
endif

# (A literal % in a pattern rule's prerequisites is replaced by the stem before the second
# expansion, so the patsubst pattern comes from a variable.)
PERCENT := %
# Objects first, the archive last, whatever order extra prerequisites (vm_test's harness) add.
$(BUILD)/tests/%_test: $$(patsubst $$(PERCENT).cpp,$(BUILD)/$$(PERCENT).o,$$(wildcard tests/$$*/*.cpp)) $(TEST_SUPPORT_OBJS) $(BUILD)/libberth-cli.a $(BUILD)/libberth.a
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $(filter-out %.a,$^) $(filter %.a,$^) $(GTEST_LIBS) $(PKG_LIBS) -pthread

# The confinement probe run inside test tasks (tests/fixtures/probe.c): static, so it needs
# nothing from the test rootfs; never sanitized (it runs under the task's seccomp filter).
PROBE := $(BUILD)/probe
$(PROBE): tests/fixtures/probe.c
	@mkdir -p $(dir $@)
	gcc -static -O2 -Wall -Wextra -Werror -o $@ $<
$(INTEG_TEST): | $(PROBE)
# The CVE-2019-5736 attacker run inside exec tests' tasks (tests/fixtures/exe_grabber.c).
EXE_GRABBER := $(BUILD)/exe_grabber
$(EXE_GRABBER): tests/fixtures/exe_grabber.c
	@mkdir -p $(dir $@)
	gcc -static -O2 -Wall -Wextra -Werror -o $@ $<
$(INTEG_TEST): | $(EXE_GRABBER)

# A sanitizer build runs each test command through tests/sanitizers/run.sh: every process the
# command starts (the test, berthd, the CLI) writes its report to a file, and any report fails
# the command, also from a process nobody waits for (berthd's leak check at exit).
SAN_RUN := $(if $(SAN),tests/sanitizers/run.sh $(SAN) $(abspath $(BUILD))/sanitizer-reports --)

unit-test: $(UNIT_TESTS)
	@set -e; for t in $(UNIT_TESTS); do echo "== $$t"; $(SAN_RUN) $$t --gtest_brief=1; done

integration-test: $(BINS) $(INTEG_TEST)
	BERTH_BIN_DIR=$(abspath $(BUILD)) $(SAN_RUN) $(INTEG_TEST) --gtest_brief=1

# The concurrency tests, run under TSan by `make test`: the unit tests whose threads meet in
# berth's code (the event bus, the API server and its streams, concurrent pulls and loads into
# one content store) and, through the real berthd, the integration tests with many clients at
# once. Of fetcher_test only the concurrent suites: its single-threaded crash and benchmark
# suites take minutes under TSan and find nothing there.
CONCURRENCY_UNIT_TESTS := $(BUILD)/tests/agent_test $(BUILD)/tests/api_test $(BUILD)/tests/fetcher_test
CONCURRENCY_FETCHER_TESTS := *Concurrent*:*Parallel*
CONCURRENCY_INTEG_TESTS := Scale.*:Restart.StoppingWithClientsWaiting*:Lifecycle.EventsArriveInOrder
# The integration tests drive berthd from outside: under `make test` the ASan build's test
# binary drives the TSan berthd, so the TSan build compiles only berthd and three unit tests.
CONCURRENCY_INTEG_TEST ?= $(INTEG_TEST)
concurrency-test: $(BUILD)/berthd $(BUILD)/berth-shim $(CONCURRENCY_UNIT_TESTS) $(CONCURRENCY_INTEG_TEST)
	$(SAN_RUN) $(BUILD)/tests/agent_test --gtest_brief=1
	$(SAN_RUN) $(BUILD)/tests/api_test --gtest_brief=1
	$(SAN_RUN) $(BUILD)/tests/fetcher_test --gtest_brief=1 --gtest_filter='$(CONCURRENCY_FETCHER_TESTS)'
	BERTH_BIN_DIR=$(abspath $(BUILD)) $(SAN_RUN) $(CONCURRENCY_INTEG_TEST) --gtest_brief=1 \
	  --gtest_filter='$(CONCURRENCY_INTEG_TESTS)'

# One VM boot (Debian kernel under qemu TCG, see tests/vm/run.sh) runs the VM smoke test and
# the VM test binaries against a real cgroup v2 kernel.
# The isolator tests point isolators at the cgroups tests' fake tree.
$(BUILD)/tests/isolators_test: $(BUILD)/tests/cgroups/fake_tree.o

# The VM tests start the real berthd through the integration harness.
# and share the limits suite with the integration tests (one suite, two backends).
$(BUILD)/tests/vm_test: $(BUILD)/tests/integration/harness.o $(BUILD)/tests/integration/limits_enforced_test.o

vm-test: $(BINS) $(BUILD)/tests/vm_test
	BERTH_BIN_DIR=$(abspath $(BUILD)) tests/vm/suite.sh $(abspath $(BUILD))/tests/vm_test

# What `make test` builds in each build dir before it runs anything there.
test-bins: all $(UNIT_TESTS) $(INTEG_TEST)
concurrency-bins: $(BUILD)/berthd $(BUILD)/berth-shim $(CONCURRENCY_UNIT_TESTS) $(CONCURRENCY_INTEG_TEST)

ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
# The optimised build runs the VM suite only: its integration tests are the ASan run's (the
# same tests, berthd sanitized), which keeps the whole under 20 minutes on 2 cores.
test: deps
	$(MAKE) -j$$(nproc) all $(BUILD)/tests/vm_test
	$(MAKE) -j$$(nproc) SAN=asan BUILD=$(ASAN_BUILD) test-bins
	$(MAKE) SAN=asan BUILD=$(ASAN_BUILD) unit-test integration-test
	$(MAKE) -j$$(nproc) SAN=tsan BUILD=$(TSAN_BUILD) CONCURRENCY_INTEG_TEST=$(ASAN_BUILD)/tests/integration_test concurrency-bins
	$(MAKE) SAN=tsan BUILD=$(TSAN_BUILD) CONCURRENCY_INTEG_TEST=$(ASAN_BUILD)/tests/integration_test concurrency-test
	$(MAKE) vm-test

demo: deps
	$(MAKE) all
	./packaging/demo.sh

$(BUILD)/bench/%: bench/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $(LDFLAGS) -o $@ $<

# The seccomp floor measures the program berthd builds, so it links libberth.
$(BUILD)/bench/seccomp_floor: bench/seccomp_floor.cpp $(BUILD)/libberth.a
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $(PKG_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libberth.a $(PKG_LIBS)

bench: deps
	$(MAKE) all $(BENCH_BINS)
	./bench/run.sh

clean:
	rm -rf $(BUILD) $(if $(SAN),,$(ASAN_BUILD) $(TSAN_BUILD))

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
