#include "isolators/network/netns_file.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <thread>

namespace berth::isolators {

Status create_netns_file(const std::string& path, const std::function<Status()>& inside) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (fd < 0) return errno_error("create " + path);
  ::close(fd);
  Status made = ok();
  std::thread([&] {
    if (::unshare(CLONE_NEWNET) != 0) {
      made = errno_error("new network namespace");
      return;
    }
    if (::mount("/proc/thread-self/ns/net", path.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      made = errno_error("bind the new network namespace to " + path);
      return;
    }
    if (inside) made = inside();
  }).join();
  if (!made) (void)remove_netns_file(path);
  return made;
}

Status remove_netns_file(const std::string& path) {
  if (::umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
    return errno_error("unmount " + path);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return errno_error("remove " + path);
  return ok();
}

}  // namespace berth::isolators
