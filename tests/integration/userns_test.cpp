// User namespaces through the real berthd: task root is the first id of a host range berth
// allocates from its pool; the root file system is built from idmapped layers (never copied
// or chowned); what the task writes belongs to its range; ranges are held until the task is
// removed, survive a kill -9 of berthd, and an exhausted pool is refused cleanly.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <sstream>
#include <thread>

#include "common/fs.hpp"
#include "tests/integration/harness.hpp"
#include "sandbox/idmap.hpp"
#include "tests/integration/poll.hpp"

namespace berth::testing {
namespace {

constexpr uint64_t kPoolStart = 3000000000ULL;
constexpr uint64_t kRange = 65536;

// A node whose tasks get a user namespace by default, with a pool of `ranges` ranges.
std::string userns_config(int ranges) {
  return R"("userns": {"default": true, "pool": ")" + std::to_string(kPoolStart) + "-" +
         std::to_string(kPoolStart + ranges * kRange - 1) + R"(", "range_size": )" + std::to_string(kRange) + "}";
}

struct Stat {
  uid_t uid = 0;
  gid_t gid = 0;
};
Stat stat_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return {st.st_uid, st.st_gid};
}

class UserNamespace : public ::testing::Test {
 protected:
  explicit UserNamespace(int ranges = 3) : agent_(userns_config(ranges)) {}
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "integration tests need root";
    auto st = agent_.start();
    ASSERT_TRUE(st.has_value()) << st.error().message;
  }
  std::string run(const std::string& script) { return agent_.run(spec(rootfs_.path(), {"sh", "-c", script})); }
  // The host id the task's root maps to, from its own /proc/self/uid_map ("0 <base> <size>").
  uint64_t base_of(const std::string& id) {
    EXPECT_TRUE(poll_until([&] { return agent_.logs(id).find("map:") != std::string::npos; },
                           std::chrono::seconds(10)))
        << agent_.logs(id, "?stream=stderr");
    std::string out = agent_.logs(id);
    std::istringstream in(out.substr(out.find("map:") + 4));
    uint64_t inside = 1, base = 0, size = 0;
    in >> inside >> base >> size;
    EXPECT_EQ(inside, 0u) << out;
    EXPECT_EQ(size, kRange) << out;
    return base;
  }
  std::string sandbox(const std::string& id) { return agent_.state_dir() + "/sandboxes/" + id; }

  BusyboxRootfs rootfs_;
  Agent agent_;
};

TEST_F(UserNamespace, TaskRootIsTheRangeBaseAndItsFilesBelongToTheRange) {
  std::string id = run("id -u; id -g; echo map: $(cat /proc/self/uid_map); echo x > /made-in-root; "
                       "echo y > /mnt/sandbox/made-in-sandbox; stat -c owner=%u /bin/busybox");
  auto exit = agent_.wait(id);
  ASSERT_EQ(exit["exit_code"].GetInt(), 0) << agent_.logs(id, "?stream=stderr");
  std::string out = agent_.logs(id);
  EXPECT_EQ(out.substr(0, 4), "0\n0\n") << out;
  uint64_t base = base_of(id);
  EXPECT_GE(base, kPoolStart);
  EXPECT_LT(base, kPoolStart + 3 * kRange);
  // The layer file is the task root's (idmapped), yet on the host it is still host root's.
  EXPECT_NE(out.find("owner=0\n"), std::string::npos) << out;
  EXPECT_EQ(stat_of(rootfs_.path() + "/bin/busybox").uid, 0u);
  Stat in_root = stat_of(sandbox(id) + "/overlay/upper/made-in-root");
  EXPECT_EQ(in_root.uid, base);
  EXPECT_EQ(in_root.gid, base);
  Stat in_box = stat_of(sandbox(id) + "/work/made-in-sandbox");
  EXPECT_EQ(in_box.uid, base);
  EXPECT_EQ(in_box.gid, base);
}

TEST_F(UserNamespace, LayersAreSharedNotCopiedOrChowned) {
  size_t layer_files = entries(rootfs_.path() + "/bin").size();
  std::string id = run("ls -lR / >/dev/null 2>&1; cat /bin/busybox > /dev/null; echo map: $(cat /proc/self/uid_map)");
  auto exit = agent_.wait(id);
  ASSERT_EQ(exit["exit_code"].GetInt(), 0) << agent_.logs(id, "?stream=stderr");
  base_of(id);
  // Nothing was copied up: the upper dir holds only the mount points berth made (no layer
  // file, no bin/).
  for (const auto& e : entries(sandbox(id) + "/overlay/upper"))
    EXPECT_TRUE(e == "proc" || e == "sys" || e == "dev" || e == "mnt") << e << " was copied up";
  EXPECT_EQ(entries(rootfs_.path() + "/bin").size(), layer_files);
  for (const auto& name : entries(rootfs_.path() + "/bin")) {
    EXPECT_EQ(stat_of(rootfs_.path() + "/bin/" + name).uid, 0u) << name << " was chowned";
  }
}

TEST_F(UserNamespace, ConcurrentTasksGetDisjointRanges) {
  std::string a = run("echo map: $(cat /proc/self/uid_map); sleep 30");
  std::string b = run("echo map: $(cat /proc/self/uid_map); sleep 30");
  uint64_t base_a = base_of(a), base_b = base_of(b);
  EXPECT_GE(base_a > base_b ? base_a - base_b : base_b - base_a, kRange) << base_a << " and " << base_b << " overlap";
}

TEST_F(UserNamespace, RootInTheTaskCannotReadAHostRootFile) {
  std::string dir = make_temp_dir("berth-userns-vol");
  ASSERT_EQ(::chmod(dir.c_str(), 0755), 0);
  ASSERT_TRUE(fs::write_file_atomic(dir + "/secret", "host secret\n", 0600).has_value());
  std::string id = agent_.run(spec(rootfs_.path(), {"sh", "-c", "id -u; stat -c owner=%u /data/secret; cat /data/secret"},
                                   R"("volumes": [{"host_path": ")" + dir + R"(", "container_path": "/data"}])"));
  auto exit = agent_.wait(id);
  std::string out = agent_.logs(id);
  EXPECT_NE(exit["exit_code"].GetInt(), 0) << out;
  EXPECT_EQ(out.find("host secret"), std::string::npos) << "root in the task read a host root file";
  EXPECT_NE(out.find("owner=65534"), std::string::npos) << out;  // host root is nobody there
  EXPECT_NE(agent_.logs(id, "?stream=stderr").find("Permission denied"), std::string::npos);
  (void)fs::remove_tree(dir);
}

// A root file system on a file system without idmapped mounts (overlayfs itself here) is
// refused with an error that says so; nothing is copied or chowned instead.
TEST_F(UserNamespace, LayersThatCannotBeIdmappedAreRefusedNotCopied) {
  std::string dir = make_temp_dir("berth-userns-noidmap");
  for (const char* d : {"/upper", "/work", "/merged"}) ASSERT_TRUE(fs::mkdir_p(dir + d, 0755).has_value());
  std::string opts = "lowerdir=" + rootfs_.path() + ",upperdir=" + dir + "/upper,workdir=" + dir + "/work";
  ASSERT_EQ(::mount("overlay", (dir + "/merged").c_str(), "overlay", 0, opts.c_str()), 0) << std::strerror(errno);
  auto r = agent_.launch(spec(dir + "/merged", {"true"}));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("cannot idmap image layer"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("does not copy or chown"), std::string::npos) << r.body;
  auto doc = parse(r.body);
  std::string id = doc["error"].HasMember("id") ? doc["error"]["id"].GetString() : "";
  ASSERT_FALSE(id.empty()) << r.body;
  EXPECT_STREQ(agent_.get(id)["state"].GetString(), "failed");
  EXPECT_TRUE(entries(sandbox(id) + "/overlay/upper").empty());
  EXPECT_TRUE(entries(dir + "/upper").empty());
  agent_.request("DELETE", "/v1/containers/" + id);
  EXPECT_EQ(::umount2((dir + "/merged").c_str(), MNT_DETACH), 0);
  (void)fs::remove_tree(dir);
}

// The node's default is off here: the task's own choice turns it on (and a task that says
// nothing runs as before, as host root).
class PerTaskChoice : public ::testing::Test {
 protected:
  PerTaskChoice() : agent_(R"("userns": {"pool": "3000000000-3000131071"})") {}
  void SetUp() override { ASSERT_TRUE(agent_.start().has_value()); }
  std::string uid_map(const std::string& security) {
    std::string id = agent_.run(spec(rootfs_.path(), {"sh", "-c", "cat /proc/self/uid_map"}, security));
    agent_.wait(id);
    std::istringstream in(agent_.logs(id));
    std::string inside, outside, size;
    in >> inside >> outside >> size;
    return inside + " " + outside + " " + size;
  }
  BusyboxRootfs rootfs_;
  Agent agent_;
};

TEST_F(PerTaskChoice, ATaskOptsInAndOthersKeepTheHostIds) {
  EXPECT_EQ(uid_map(R"("security": {"user_namespace": true})"), "0 3000000000 65536");
  EXPECT_EQ(uid_map(""), "0 0 4294967295");
  EXPECT_EQ(uid_map(R"("security": {"user_namespace": false})"), "0 0 4294967295");
}

class SmallPool : public UserNamespace {
 protected:
  SmallPool() : UserNamespace(1) {}
};

TEST_F(SmallPool, AnExhaustedPoolIsRefusedAndARemovedTaskFreesItsRange) {
  std::string first = run("echo map: $(cat /proc/self/uid_map)");
  agent_.wait(first);
  uint64_t base = base_of(first);
  // The exited task still has files owned by its range: the range stays held.
  auto refused = agent_.launch(spec(rootfs_.path(), {"true"}));
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_NE(refused.body.find("pool"), std::string::npos) << refused.body;
  EXPECT_NE(refused.body.find("exhausted"), std::string::npos) << refused.body;
  // Nothing half-done: only the first task is known, and only its sandbox exists.
  auto list = parse(agent_.request("GET", "/v1/containers").body);
  EXPECT_EQ(list["containers"].GetArray().Size(), 1u);
  EXPECT_EQ(subdirs(agent_.state_dir() + "/sandboxes"), std::vector<std::string>{first});

  auto removed = agent_.request("DELETE", "/v1/containers/" + first);
  ASSERT_EQ(removed.status / 100, 2) << removed.body;
  std::string second = run("echo map: $(cat /proc/self/uid_map)");
  EXPECT_EQ(base_of(second), base);
}

class TwoRangePool : public UserNamespace {
 protected:
  TwoRangePool() : UserNamespace(2) {}
};

TEST_F(TwoRangePool, ARunningTasksRangeStaysHeldAcrossAKill9) {
  std::string held = run("echo map: $(cat /proc/self/uid_map); sleep 60");
  uint64_t held_base = base_of(held);
  agent_.kill9();
  auto st = agent_.start();
  ASSERT_TRUE(st.has_value()) << st.error().message;
  EXPECT_STREQ(agent_.get(held)["state"].GetString(), "running");
  std::string next = run("echo map: $(cat /proc/self/uid_map)");
  EXPECT_NE(base_of(next), held_base);
  agent_.wait(next);
  auto refused = agent_.launch(spec(rootfs_.path(), {"true"}));
  EXPECT_EQ(refused.status, 503) << refused.body;
}

}  // namespace
}  // namespace berth::testing

namespace berth::testing {
namespace {

// The idmapped root of a 100-layer image, both ways the shim builds it: from detached layers
// (Linux 6.15+) and the portable way (a private mount namespace; the only one before 6.15).
// The merged view has every layer's file, owned by the mapped root, and the layers on disk
// keep host root as owner.
class IdmappedRoot : public ::testing::TestWithParam<bool> {};

TEST_P(IdmappedRoot, AHundredLayersMergeIdmapped) {
  ASSERT_EQ(::geteuid(), 0u) << "integration tests need root";
  std::string dir = make_temp_dir("berth-idmap-layers");
  sandbox::OciSpec spec;
  std::string lower;
  for (int i = 0; i < 100; ++i) {
    std::string layer = dir + "/layers/layer-number-" + std::to_string(i);
    ASSERT_TRUE(fs::mkdir_p(layer, 0755).has_value());
    ASSERT_TRUE(fs::write_file_atomic(layer + "/file" + std::to_string(i), "x").has_value());
    lower += (lower.empty() ? "" : ":") + layer;
  }
  for (const char* d : {"/upper", "/work", "/root"}) ASSERT_TRUE(fs::mkdir_p(dir + d, 0755).has_value());
  spec.root_path = dir + "/root";
  spec.annotations["berth.overlay.lowerdir"] = lower;
  spec.annotations["berth.overlay.upperdir"] = dir + "/upper";
  spec.annotations["berth.overlay.workdir"] = dir + "/work";
  spec.uid_mappings = spec.gid_mappings = {{0, 3300000000u, 65536}};
  auto userns = sandbox::user_namespace_with_maps(spec);
  ASSERT_TRUE(userns.has_value()) << userns.error().message;
  auto root = sandbox::build_idmapped_root(spec, userns->get(), GetParam());
  ASSERT_TRUE(root.has_value()) << root.error().message;
  for (int i : {0, 50, 99}) {
    struct stat st {};
    std::string name = "file" + std::to_string(i);
    ASSERT_EQ(::fstatat(root->get(), name.c_str(), &st, 0), 0) << name << ": " << std::strerror(errno);
    EXPECT_EQ(st.st_uid, 3300000000u) << name;
    ASSERT_EQ(::stat((dir + "/layers/layer-number-" + std::to_string(i) + "/" + name).c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u);
  }
  // The shim is back in its own mount namespace: nothing was mounted on the scratch dir here.
  EXPECT_TRUE(entries(dir + "/root").empty());
  root->reset();
  (void)fs::remove_tree(dir);
}

INSTANTIATE_TEST_SUITE_P(BothWays, IdmappedRoot, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "DetachedLayers" : "PrivateNamespace"; });

}  // namespace
}  // namespace berth::testing
