// SandboxLayout and RunDirLayout: the names every component uses for a task's files.
#include "sandbox/layout.hpp"

#include <gtest/gtest.h>

namespace berth::sandbox {
namespace {

TEST(SandboxLayout, NamesEveryEntryOfTheSandbox) {
  SandboxLayout l("/var/lib/berth/sandboxes/abc");
  EXPECT_EQ(l.exit_path(), "/var/lib/berth/sandboxes/abc/exit.json");
  EXPECT_EQ(l.termination_path(), "/var/lib/berth/sandboxes/abc/termination.json");
  EXPECT_EQ(l.work_path(), "/var/lib/berth/sandboxes/abc/work");
  EXPECT_EQ(l.overlay_upper_path(), "/var/lib/berth/sandboxes/abc/overlay/upper");
  EXPECT_EQ(l.overlay_work_path(), "/var/lib/berth/sandboxes/abc/overlay/work");
  EXPECT_EQ(l.log_path(SandboxLayout::kStdout, 0), "/var/lib/berth/sandboxes/abc/stdout");
  EXPECT_EQ(l.log_path(SandboxLayout::kStderr, 3), "/var/lib/berth/sandboxes/abc/stderr.3");
  EXPECT_EQ(SandboxLayout::log_name("stdout", 1), "stdout.1");
}

TEST(RunDirLayout, NamesEveryEntryOfTheRunDir) {
  RunDirLayout r("/run/berth/containers/abc");
  EXPECT_EQ(r.state_path(), "/run/berth/containers/abc/state.json");
  EXPECT_EQ(r.config_path(), "/run/berth/containers/abc/config.json");
  EXPECT_EQ(r.shim_config_path(), "/run/berth/containers/abc/shim.json");
  EXPECT_EQ(r.shim_log_path(), "/run/berth/containers/abc/shim.log");
  EXPECT_EQ(r.rootfs_path(), "/run/berth/containers/abc/rootfs");
}

}  // namespace
}  // namespace berth::sandbox
