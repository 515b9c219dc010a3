// Cgroup::write delivers the whole value even when a signal interrupts the write part-way
// (a short write) — shown with a FIFO standing in for the control file, so the write blocks.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "cgroups/cgroup.hpp"
#include "tests/cgroups/fake_tree.hpp"

namespace berth::cgroups {
namespace {

void on_usr1(int) {}

TEST(CgroupWrite, AWriteInterruptedPartWayStillDeliversEverything) {
  testing::FakeTree t;
  ASSERT_EQ(::mkfifo((t.path() + "/memory.max").c_str(), 0600), 0);
  struct sigaction sa {}, old {};
  sa.sa_handler = on_usr1;  // no SA_RESTART: the blocked write returns short
  ASSERT_EQ(::sigaction(SIGUSR1, &sa, &old), 0);
  const std::string value(1 << 20, '7');
  pthread_t writer = ::pthread_self();
  std::string got;
  std::thread reader([&] {
    int fd = ::open((t.path() + "/memory.max").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    int capacity = ::fcntl(fd, F_GETPIPE_SZ);
    // Poll until the writer has filled the pipe and blocks, then interrupt it once.
    for (int queued = 0; queued < capacity;) {
      if (::ioctl(fd, FIONREAD, &queued) != 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ::pthread_kill(writer, SIGUSR1);
    char buf[65536];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) != 0;) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
  });
  auto st = t.cgroup().write("memory.max", value);
  reader.join();
  ::sigaction(SIGUSR1, &old, nullptr);
  ASSERT_TRUE(st.has_value()) << st.error().message;
  EXPECT_EQ(got.size(), value.size());
}

}  // namespace
}  // namespace berth::cgroups
