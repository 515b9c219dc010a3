// CVE-2021-30465 / CVE-2019-14271 classes and user lookup: an image (or a task racing its own
// volumes) plants symlinks to host paths where berth mounts or reads, hoping berth follows
// them on the host. berth resolves every such path inside the rootfs (openat2
// RESOLVE_IN_ROOT, mounting on /proc/self/fd/N of the fd it opened), so:
//  - a volume or sandbox mount whose destination runs through an image symlink to a host
//    directory lands inside the rootfs, and nothing is created in the host directory;
//  - an image whose /proc, /sys, /dev, /mnt are symlinks to host directories starts with
//    nothing written or mounted there;
//  - "user": "name" is looked up in the rootfs's own /etc/passwd even when that is a symlink
//    to a host file (the host file is never read).
// The host side is checked from the host: victim directories stay empty.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "tests/integration/harness.hpp"

namespace berth::testing {
namespace {

class EscapeRootfs : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "integration tests need root";
    auto st = agent_.start();
    ASSERT_TRUE(st.has_value()) << st.error().message;
    victim_ = make_temp_dir("berth-victim");
  }
  void TearDown() override { (void)!::system(("rm -rf " + victim_).c_str()); }
  std::string in_root(const std::string& rel) const { return rootfs_.path() + "/" + rel; }
  void plant(const std::string& rel, const std::string& target) const {
    (void)!::system(("rm -rf " + in_root(rel)).c_str());
    ASSERT_EQ(::symlink(target.c_str(), in_root(rel).c_str()), 0) << rel;
  }
  std::string output_of(const std::string& spec_json, int* status = nullptr) {
    auto r = agent_.launch(spec_json);
    if (status) *status = r.status;
    if (r.status != 201) {
      RecordProperty("refused", r.body);
      return "launch refused: " + r.body;
    }
    std::string id = parse(r.body)["id"].GetString();
    agent_.wait(id);
    std::string out = agent_.logs(id) + agent_.logs(id, "?stream=stderr");
    RecordProperty("task_output", out);
    return out;
  }
  Agent agent_;
  BusyboxRootfs rootfs_;
  std::string victim_;
};

TEST_F(EscapeRootfs, AVolumeThroughAnImageSymlinkToTheHostLandsInsideTheRootfs) {
  std::string vol = make_temp_dir("berth-vol");
  std::ofstream(vol + "/in-volume") << "v";
  plant("data", victim_);  // absolute: /tmp/berth-victim...
  std::string extra = "\"volumes\": [{\"host_path\": " + json_string(vol) + ", \"container_path\": \"/data/sub\"}]";
  std::string out = output_of(spec(rootfs_.path(), {"ls", "/data/sub"}, extra));
  EXPECT_TRUE(entries(victim_).empty()) << "created on the host through the image's symlink; task said: " << out;
  // Refused (the symlink's target is missing in the rootfs) or mounted inside it: either way
  // the task never sees the volume anywhere but where the rootfs says.
  if (out.find("launch refused") == std::string::npos) { EXPECT_NE(out.find("in-volume"), std::string::npos) << out; }
  else { EXPECT_NE(out.find("is a symlink to a path missing in the root"), std::string::npos) << out; }
  (void)!::system(("rm -rf " + vol).c_str());
}

TEST_F(EscapeRootfs, TheSandboxMountThroughAnImageSymlinkToTheHostLandsInsideTheRootfs) {
  plant("mnt", victim_);
  std::string out = output_of(spec(rootfs_.path(), {"sh", "-c", "echo hi > /mnt/sandbox/f && echo wrote"}));
  EXPECT_TRUE(entries(victim_).empty()) << "created on the host through the image's symlink; task said: " << out;
}

TEST_F(EscapeRootfs, ProcSysDevSymlinkedToTheHostAreNeutralised) {
  // Targets missing on the host too: following the symlinks would create them there.
  for (const char* d : {"proc", "sys", "dev"}) plant(d, victim_ + "/" + d);
  std::string out = output_of(spec(rootfs_.path(), {"sh", "-c", "echo x > /dev/null; head -1 /proc/self/status; ls /sys | head -1"}));
  EXPECT_TRUE(entries(victim_).empty()) << "written on the host's " << victim_ << "; task said: " << out;
}

TEST_F(EscapeRootfs, DevNullAndMaskedPathsSymlinkedToTheHostAreNeutralised) {
  std::string host_file = victim_ + "/file";
  std::ofstream(host_file) << "untouched";
  ::mkdir(in_root("dev").c_str(), 0755);
  ::mkdir(in_root("proc").c_str(), 0755);
  plant("dev/null", host_file);
  plant("proc/kcore", host_file);
  std::string out = output_of(spec(rootfs_.path(), {"sh", "-c", "echo pwned > /dev/null; echo pwned > /proc/kcore; echo done"}));
  std::ifstream in(host_file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "untouched") << out;
}

// The symlink appears during the launch: a running task shares a volume with the one being
// launched and flips a directory in it between a real directory and a symlink to a host
// directory, while the new task mounts a second volume beneath it. Each launch either mounts
// inside its rootfs or is refused; nothing is ever created in the host directory.
TEST_F(EscapeRootfs, AVolumePathThatBecomesASymlinkDuringTheLaunchStaysInside) {
  std::string shared = make_temp_dir("berth-shared");
  std::string inner = make_temp_dir("berth-inner");
  std::string flip = "while :; do rm -rf /v/x; mkdir /v/x; rm -rf /v/x; ln -s " + victim_ + " /v/x; done";
  std::string racer = agent_.run(spec(rootfs_.path(), {"sh", "-c", flip},
                                      "\"volumes\": [{\"host_path\": " + json_string(shared) + ", \"container_path\": \"/v\"}]"));
  int launched = 0, refused = 0;
  for (int i = 0; i < 20; ++i) {
    std::string extra = "\"volumes\": [{\"host_path\": " + json_string(shared) + ", \"container_path\": \"/v\"}, "
                        "{\"host_path\": " + json_string(inner) + ", \"container_path\": \"/v/x/sub\"}]";
    auto r = agent_.launch(spec(rootfs_.path(), {"true"}, extra));
    if (r.status == 201) {
      ++launched;
      agent_.wait(parse(r.body)["id"].GetString());
    } else {
      ++refused;
    }
    EXPECT_TRUE(entries(victim_).empty()) << "launch " << i << " created something in the host directory";
  }
  RecordProperty("launched", launched);
  RecordProperty("refused", refused);
  agent_.request("POST", "/v1/containers/" + racer + "/kill", "{\"signal\": \"KILL\"}");
  agent_.wait(racer);
  (void)!::system(("rm -rf " + shared + " " + inner).c_str());
}

// Host file with a user the image does not have: a symlinked /etc/passwd must not find it.
TEST_F(EscapeRootfs, UserIsLookedUpInTheRootfsEvenWhenEtcPasswdIsASymlinkToTheHost) {
  std::string host_passwd = victim_ + "/passwd";
  std::ofstream(host_passwd) << "hostonly:x:4242:4242::/:/bin/sh\n";
  plant("etc/passwd", host_passwd);
  int status = 0;
  std::string out = output_of(spec(rootfs_.path(), {"id", "-u"}, "\"user\": \"hostonly\""), &status);
  EXPECT_EQ(out.find("4242"), std::string::npos) << "the host's file was read: " << out;
  EXPECT_EQ(status, 400) << out;
  EXPECT_NE(out.find("not found in /etc/passwd"), std::string::npos) << out;
}

TEST_F(EscapeRootfs, AGroupFileSymlinkedToTheHostIsNotRead) {
  std::string host_group = victim_ + "/group";
  std::ofstream(host_group) << "hostgrp:x:4343:\n";
  plant("etc/group", host_group);
  int status = 0;
  std::string out = output_of(spec(rootfs_.path(), {"id", "-g"}, "\"user\": \"0:hostgrp\""), &status);
  EXPECT_EQ(out.find("4343"), std::string::npos) << "the host's file was read: " << out;
  EXPECT_EQ(status, 400) << out;
}

}  // namespace
}  // namespace berth::testing
