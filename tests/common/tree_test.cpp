// Trees a task controls: removal and walks of very deep and very wide trees, without
// recursion and in bounded memory (checked in a child process with a small stack and a cap on
// its data segment, so a regression fails the test instead of killing the test binary).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>

#include "common/fs.hpp"
#include "common/tree.hpp"

namespace berth {
namespace {

class TreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // On tmpfs: these tests are about berth's memory and stack, not the disk's speed (a deep
    // chain on a busy ext4 takes minutes to create).
    char tmpl[] = "/dev/shm/berth-tree-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { (void)fs::remove_tree(dir_); }

  // dir_/name/d/d/d... `depth` levels below name, a file at the bottom.
  void make_chain(const std::string& name, int depth) {
    ASSERT_EQ(::mkdir((dir_ + "/" + name).c_str(), 0755), 0);
    UniqueFd cur = UniqueFd::adopt(::open((dir_ + "/" + name).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(cur.valid());
    for (int i = 0; i < depth; ++i) {
      ASSERT_EQ(::mkdirat(cur.get(), "d", 0755), 0) << "level " << i;
      cur = UniqueFd::adopt(::openat(cur.get(), "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      ASSERT_TRUE(cur.valid()) << "level " << i;
    }
    UniqueFd f = UniqueFd::adopt(::openat(cur.get(), "bottom", O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    ASSERT_TRUE(f.valid());
  }

  std::string dir_;
};

long vm_data_kb() {
  auto status = fs::read_file("/proc/self/status");
  if (!status) return -1;
  auto at = status->find("VmData:");
  return at == std::string::npos ? -1 : std::strtol(status->c_str() + at + 7, nullptr, 10);
}

// Runs `fn` in a forked child, on a thread with a 256 KiB stack, with the child's data
// segment capped at what it uses now plus `extra_mb`. Returns the child's wait status.
int run_confined(long extra_mb, const std::function<bool()>& fn) {
  pid_t pid = ::fork();
  if (pid == 0) {
    long kb = vm_data_kb();
    struct rlimit lim {};
    lim.rlim_cur = lim.rlim_max = static_cast<rlim_t>(kb + extra_mb * 1024) * 1024;
    if (kb < 0 || ::setrlimit(RLIMIT_DATA, &lim) != 0) ::_exit(3);
    pthread_attr_t attr;
    ::pthread_attr_init(&attr);
    ::pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_t t;
    static const std::function<bool()>* s_fn;
    s_fn = &fn;
    if (::pthread_create(&t, &attr, [](void*) -> void* { return (*s_fn)() ? nullptr : reinterpret_cast<void*>(1); },
                         nullptr) != 0)
      ::_exit(4);
    void* result = nullptr;
    ::pthread_join(t, &result);
    ::_exit(result == nullptr ? 0 : 1);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

TEST_F(TreeTest, RemovesA200000DeepChainOnASmallStackInBoundedMemory) {
  make_chain("deep", 200'000);
  std::string deep = dir_ + "/deep";
  int status = run_confined(16, [&] { return fs::remove_tree(deep).has_value(); });
  ASSERT_TRUE(WIFEXITED(status)) << "remove_tree crashed (signal " << WTERMSIG(status) << ")";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "remove_tree failed or ran out of its 16 MiB";
  EXPECT_FALSE(fs::exists(deep));
}

TEST_F(TreeTest, RemovesAWideTreeWithDeepBranches) {
  ASSERT_EQ(::mkdir((dir_ + "/wide").c_str(), 0755), 0);
  for (const char* b : {"a", "b", "c"}) make_chain("wide/" + std::string(b), 2);
  UniqueFd w = UniqueFd::adopt(::open((dir_ + "/wide").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  for (int i = 0; i < 5000; ++i) {
    UniqueFd f = UniqueFd::adopt(::openat(w.get(), ("f" + std::to_string(i)).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    ASSERT_TRUE(f.valid());
  }
  ASSERT_EQ(::symlink("/etc", (dir_ + "/wide/etc-link").c_str()), 0);
  make_chain("wide/a/chain", 3000);
  auto removed = fs::remove_tree(dir_ + "/wide");
  ASSERT_TRUE(removed.has_value()) << removed.error().message;
  EXPECT_FALSE(fs::exists(dir_ + "/wide"));
  EXPECT_TRUE(fs::exists("/etc/passwd"));  // the link was removed, not followed
}

TEST_F(TreeTest, WalksA50000DeepChainOnASmallStack) {
  make_chain("deep", 50'000);
  uint64_t dirs = 0;
  uint64_t files = 0;
  int status = run_confined(32, [&] {
    auto t = fs::walk_tree_at(AT_FDCWD, dir_ + "/deep", fs::WalkBudget{}, [&](const struct stat& st) {
      (S_ISDIR(st.st_mode) ? dirs : files)++;
    });
    return t && t->stop == fs::WalkStop::kComplete && dirs == 50'001 && files == 1;
  });
  ASSERT_TRUE(WIFEXITED(status)) << "walk crashed (signal " << WTERMSIG(status) << ")";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "walk failed, miscounted or ran out of its 32 MiB";
}

TEST_F(TreeTest, WalkSaysWhichBudgetStoppedIt) {
  make_chain("deep", 500);
  fs::WalkBudget budget;
  budget.max_entries = 100;
  uint64_t seen = 0;
  auto t = fs::walk_tree_at(AT_FDCWD, dir_ + "/deep", budget, [&](const struct stat&) { ++seen; });
  ASSERT_TRUE(t.has_value()) << t.error().message;
  EXPECT_EQ(t->stop, fs::WalkStop::kEntryBudget);
  EXPECT_EQ(seen, 100u);
  EXPECT_EQ(t->stop_reason(budget), "stopped at the budget of 100 entries");

  std::atomic<bool> cancel{true};
  budget = fs::WalkBudget{};
  budget.cancel = &cancel;
  t = fs::walk_tree_at(AT_FDCWD, dir_ + "/deep", budget, [](const struct stat&) {});
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->stop, fs::WalkStop::kCancelled);

  auto full = fs::walk_tree_at(AT_FDCWD, dir_ + "/deep", fs::WalkBudget{}, [](const struct stat&) {});
  ASSERT_TRUE(full.has_value());
  EXPECT_EQ(full->stop, fs::WalkStop::kComplete);
  EXPECT_EQ(full->entries, 502u);  // the top, 500 levels, the file
}

TEST_F(TreeTest, WalkCountsEveryEntryOfAWideTreeOnce) {
  ASSERT_EQ(::mkdir((dir_ + "/w").c_str(), 0755), 0);
  for (int d = 0; d < 40; ++d) {
    std::string sub = dir_ + "/w/s" + std::to_string(d);
    ASSERT_EQ(::mkdir(sub.c_str(), 0755), 0);
    for (int f = 0; f < 100; ++f) ASSERT_TRUE(fs::write_file_atomic(sub + "/f" + std::to_string(f), "x", 0644, fs::Durability::kVolatile));
  }
  uint64_t files = 0;
  auto t = fs::walk_tree_at(AT_FDCWD, dir_ + "/w", fs::WalkBudget{}, [&](const struct stat& st) {
    if (S_ISREG(st.st_mode)) ++files;
  });
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(files, 4000u);
  EXPECT_EQ(t->entries, 1u + 40u + 4000u);
}

}  // namespace
}  // namespace berth
