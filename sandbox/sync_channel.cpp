#include "sandbox/sync_channel.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace berth::sandbox {

void send_failure(int sync_fd, int sys_errno, const char* message) {
  SyncFailure f;
  f.sys_errno = sys_errno;
  std::strncpy(f.message, message, sizeof(f.message) - 1);
  while (::send(sync_fd, &f, sizeof(f), MSG_NOSIGNAL) < 0 && errno == EINTR) {}
}

}  // namespace berth::sandbox
