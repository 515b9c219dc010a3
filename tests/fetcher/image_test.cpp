#include "fetcher/image.hpp"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include "fetcher/pull.hpp"
#include "tests/fetcher/image_builder.hpp"
#include "tests/fetcher/test_util.hpp"

namespace berth::testing {
namespace {

using namespace berth::fetcher;

TEST(ResolveProcess, DockerOverrideSemantics) {
  ImageConfig img;
  img.entrypoint = {"/bin/web"};
  img.cmd = {"--port", "80"};
  img.env = {"PATH=/bin", "MODE=dev"};
  img.working_dir = "/app";
  auto p = resolve_process(img, {});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->argv, (std::vector<std::string>{"/bin/web", "--port", "80"}));
  EXPECT_EQ(p->working_dir, "/app");
  ProcessOverrides o;
  o.command = std::vector<std::string>{"--port", "8080"};
  o.env = {"MODE=prod", "EXTRA=1"};
  p = resolve_process(img, o);
  EXPECT_EQ(p->argv, (std::vector<std::string>{"/bin/web", "--port", "8080"}));
  EXPECT_EQ(p->env, (std::vector<std::string>{"PATH=/bin", "MODE=prod", "EXTRA=1"}));
  ProcessOverrides e;
  e.entrypoint = std::vector<std::string>{"/bin/sh"};
  p = resolve_process(img, e);
  EXPECT_EQ(p->argv, (std::vector<std::string>{"/bin/sh"})) << "a new entrypoint drops the image's Cmd";
  auto none = resolve_process(ImageConfig{}, {});
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("nothing to run"), std::string::npos);
}

// Pull an image whose upper layer has a whiteout and an opaque dir, mount its layers as an
// overlay in a private mount namespace (a forked child, so no mount can outlive the test) and
// check the merged view a task would see.
TEST(ImageRootfs, WhiteoutsAndOpaqueDirsGiveTheRightMergedView) {
  if (!is_root()) GTEST_SKIP() << "overlay mounts and whiteouts need root";
  auto reg = Registry::start();
  ASSERT_TRUE(reg) << reg.error().message;
  std::vector<TestLayer> layers = {
      {TarBuilder().dir("etc").file("etc/motd", "base").file("etc/keep", "k").dir("var/cache")
           .file("var/cache/old", "o").file("var/cache/old2", "o2").build(), Compression::kGzip},
      {TarBuilder().dir("etc").file("etc/.wh.motd", "").dir("var/cache").file("var/cache/.wh..wh..opq", "")
           .file("var/cache/new", "n").build(), Compression::kZstd},
  };
  ASSERT_TRUE(push_image(**reg, "ovl/app", "1", layers));
  TempDir tmp;
  auto store = ContentStore::open(tmp / "store", StoreOptions::not_durable());
  ASSERT_TRUE(store);
  fetcher::RegistryOptions ro;
  ro.hosts[(*reg)->host()].insecure = true;
  RegistryClient client(ro);
  Puller puller(**store, client);
  auto rec = puller.pull((*reg)->host() + "/ovl/app:1");
  ASSERT_TRUE(rec) << rec.error().message;
  auto dirs = lower_dirs(**store, *rec);  // short links, top-most first
  ASSERT_TRUE(dirs) << dirs.error().message;
  std::string opts = "lowerdir=" + (*dirs)[0] + ":" + (*dirs)[1];
  ASSERT_TRUE(fs::mkdir_p(tmp / "merged"));
  std::string target = tmp / "merged";

  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::unshare(CLONE_NEWNS) != 0) ::_exit(10);
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) ::_exit(11);
    if (::mount("overlay", target.c_str(), "overlay", MS_RDONLY, opts.c_str()) != 0) ::_exit(12);
    int bad = 0;
    if (fs::exists(target + "/etc/motd")) bad |= 1;        // whited out
    if (!fs::exists(target + "/etc/keep")) bad |= 2;       // untouched lower file
    if (fs::exists(target + "/var/cache/old")) bad |= 4;   // hidden by the opaque dir
    if (!fs::exists(target + "/var/cache/new")) bad |= 8;  // the upper layer's own file
    auto names = fs::list_dir(target + "/var/cache");
    if (!names || names->size() != 1) bad |= 16;
    ::_exit(bad);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "bits: 1 motd visible, 2 keep missing, 4 old visible, 8 new missing, "
                                       "16 extra entries; 10-12 namespace/mount failed";
  EXPECT_TRUE(fs::list_dir(target)->empty()) << "the mount lived only in the child's namespace";
  auto cfg = load_image_config(**store, *rec);
  ASSERT_TRUE(cfg);
  EXPECT_EQ(cfg->cmd, std::vector<std::string>{"/bin/sh"});
}

}  // namespace
}  // namespace berth::testing
