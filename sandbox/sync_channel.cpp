#include "sandbox/sync_channel.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace berth::sandbox {

void send_failure(int sync_fd, int sys_errno, const char* message) {
  SyncFailure f;
  f.sys_errno = sys_errno;
  std::strncpy(f.message, message, sizeof(f.message) - 1);
  while (::send(sync_fd, &f, sizeof(f), MSG_NOSIGNAL) < 0 && errno == EINTR) {}
}

bool send_go(int sync_fd, const int* fds, size_t count) {
  if (count > kMaxJoinFds) {
    errno = EINVAL;
    return false;
  }
  char go = 1;
  iovec iov{&go, 1};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxJoinFds)] = {};
  if (count > 0) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * count);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * count);
    std::memcpy(CMSG_DATA(c), fds, sizeof(int) * count);
  }
  ssize_t n;
  do n = ::sendmsg(sync_fd, &msg, MSG_NOSIGNAL); while (n < 0 && errno == EINTR);
  return n == 1;
}

int receive_go(int sync_fd, GoFds* out) {
  char go = 0;
  iovec iov{&go, 1};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxJoinFds)] = {};
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  do n = ::recvmsg(sync_fd, &msg, MSG_CMSG_CLOEXEC); while (n < 0 && errno == EINTR);
  if (n <= 0) return static_cast<int>(n);
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (out && out->count < kMaxJoinFds) out->fds[out->count++] = fd;
      else ::close(fd);
    }
  }
  if (out && (msg.msg_flags & MSG_CTRUNC)) out->truncated = true;
  return 1;
}

}  // namespace berth::sandbox
