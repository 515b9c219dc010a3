// Inside the VM (BERTH_IN_VM=1, set by tests/vm/run.sh) a skipped test is a failed test: the
// VM exists to give every test what it needs (cgroup v2 with every controller, PSI, overlayfs),
// so a skip there means the VM or the test is broken, and a suite that skipped its limit tests
// must not pass. Outside the VM the tests skip as before, saying why.
// A GoogleTest listener linked into vm_test turns each skip into a failure that carries the
// skip's reason; tests/vm/suite.sh also checks the XML report (tests ran, none skipped).
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace berth::testing {
namespace {

class FailSkipsInVm : public ::testing::EmptyTestEventListener {
 public:
  // Listeners get OnTestEnd in reverse order, so this runs before the result printer and the
  // failure is part of the test's result. (GoogleTest forbids failures in OnTestPartResult.)
  void OnTestEnd(const ::testing::TestInfo& info) override {
    const ::testing::TestResult& result = *info.result();
    if (!result.Skipped()) return;
    std::string reasons;
    for (int i = 0; i < result.total_part_count(); ++i) {
      const auto& part = result.GetTestPartResult(i);
      if (part.skipped()) reasons += std::string("\n  ") + part.message();
    }
    ADD_FAILURE() << info.test_suite_name() << "." << info.name()
                  << " skipped inside the VM (BERTH_IN_VM=1), where every test must run:" << reasons;
  }
};

bool in_vm() {
  const char* v = std::getenv("BERTH_IN_VM");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

// Registered before gtest_main's main() runs the tests; the listener list owns the object.
[[maybe_unused]] const bool kRegistered = [] {
  if (in_vm()) ::testing::UnitTest::GetInstance()->listeners().Append(new FailSkipsInVm);
  return true;
}();

}  // namespace
}  // namespace berth::testing
