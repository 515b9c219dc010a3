// UniqueFd: sole owner of one file descriptor; move-only, closes in its destructor.
// Build one with UniqueFd::adopt(fd) right after the syscall that returned it, so no
// descriptor is ever held by a bare int across a return path. Not thread-safe by itself.
#pragma once

#include <unistd.h>

#include <utility>

namespace berth {

class UniqueFd {
 public:
  UniqueFd() = default;
  static UniqueFd adopt(int fd) { return UniqueFd(fd); }

  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  explicit UniqueFd(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace berth
