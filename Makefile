# berth — build, test and demo. `make` builds every binary; `make deps` installs the Debian
# packages the build, tests and benchmarks need; `make test` runs unit, integration and VM tests;
# `make demo` runs berth's main job end to end.

CXX      ?= g++
.SECONDEXPANSION:
BUILD    ?= build
PKGS     := libmicrohttpd libcurl libsystemd RapidJSON libcrypto libarchive libseccomp libcap libmnl
CXXFLAGS ?= -O2 -g
CXXFLAGS += -std=c++20 -Wall -Wextra -Werror -I. -MMD -MP -D_GNU_SOURCE
LDFLAGS  += -Wl,--as-needed

# pkg-config is evaluated lazily so `make deps` works before the packages exist.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
GTEST_LIBS = $(shell pkg-config --libs gtest_main gmock 2>/dev/null)

# Every .cpp under these folders that is not a main() goes into libberth.a.
LIB_DIRS  := common cgroups sandbox fetcher isolators agent agent/api cli
LIB_SRCS  := $(filter-out %/main.cpp,$(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.cpp) $(wildcard $(d)/*/*.cpp)))
LIB_SRCS  := $(filter-out agent/api/%/main.cpp sandbox/shim/%,$(sort $(LIB_SRCS)))
LIB_OBJS  := $(LIB_SRCS:%.cpp=$(BUILD)/%.o)
SHIM_SRCS := $(wildcard sandbox/shim/*.cpp)
SHIM_OBJS := $(SHIM_SRCS:%.cpp=$(BUILD)/%.o)

BINS := $(BUILD)/berthd $(BUILD)/berth-shim $(BUILD)/berth
# Benchmark drivers: one standalone binary per bench/*.cpp (no berth code in them). The ones
# that drive berthd through the integration harness are built by their own scripts
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
.PHONY: all deps test unit-test integration-test vm-test demo clean bench
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

$(BUILD)/berth: $(BUILD)/cli/main.o $(BUILD)/libberth.a
	$(CXX) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -pthread

# The shim is kept small: linked statically it has no relocated library pages of its own
# (bench/RESULTS.md: PSS 162 kB static vs 341 kB dynamic per running task).
$(BUILD)/berth-shim: $(SHIM_OBJS) $(BUILD)/libberth.a
	$(CXX) $(LDFLAGS) -static -o $@ $^

# (A literal % in a pattern rule's prerequisites is replaced by the stem before the second
# expansion, so the patsubst pattern comes from a variable.)
PERCENT := %
# Objects first, the archive last, whatever order extra prerequisites (vm_test's harness) add.
$(BUILD)/tests/%_test: $$(patsubst $$(PERCENT).cpp,$(BUILD)/$$(PERCENT).o,$$(wildcard tests/$$*/*.cpp)) $(TEST_SUPPORT_OBJS) $(BUILD)/libberth.a
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) -o $@ $(filter-out %.a,$^) $(filter %.a,$^) $(GTEST_LIBS) $(PKG_LIBS) -pthread

unit-test: $(UNIT_TESTS)
	@set -e; for t in $(UNIT_TESTS); do echo "== $$t"; $$t --gtest_brief=1; done

integration-test: $(BINS) $(INTEG_TEST)
	BERTH_BIN_DIR=$(abspath $(BUILD)) $(INTEG_TEST) --gtest_brief=1

# One VM boot (Debian kernel under qemu TCG, see tests/vm/run.sh) runs the VM smoke test and
# the VM test binaries against a real cgroup v2 kernel.
# The isolator tests point isolators at the cgroups tests' fake tree.
$(BUILD)/tests/isolators_test: $(BUILD)/tests/cgroups/fake_tree.o

# The VM tests start the real berthd through the integration harness.
$(BUILD)/tests/vm_test: $(BUILD)/tests/integration/harness.o

vm-test: $(BINS) $(INTEG_TEST) $(BUILD)/tests/vm_test
	BERTH_BIN_DIR=$(abspath $(BUILD)) tests/vm/suite.sh $(abspath $(BUILD))/tests/vm_test

test: deps
	$(MAKE) -j$$(nproc) all $(UNIT_TESTS) $(INTEG_TEST) $(BUILD)/tests/vm_test
	$(MAKE) unit-test
	$(MAKE) integration-test
	$(MAKE) vm-test

demo: deps
	$(MAKE) all
	./packaging/demo.sh

$(BUILD)/bench/%: bench/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $(LDFLAGS) -o $@ $<

bench: deps
	$(MAKE) all $(BENCH_BINS)
	./bench/run.sh

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
