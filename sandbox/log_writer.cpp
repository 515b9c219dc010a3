#include "sandbox/log_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs.hpp"
#include "sandbox/layout.hpp"

namespace berth::sandbox {

Result<LogWriter> LogWriter::open(int dirfd, std::string name, uint64_t max_bytes, uint32_t max_files) {
  if (name.empty() || name.find('/') != std::string::npos)
    return make_error(Code::kInvalidArgument, "log file name \"" + name + "\" must be a plain name");
  if (max_files == 0) return make_error(Code::kInvalidArgument, "log max_files must be at least 1");
  LogWriter w(dirfd, std::move(name), max_bytes, max_files);
  BERTH_CHECK(w.reopen());
  return w;
}

Status LogWriter::reopen() {
  // O_NOFOLLOW: the sandbox directory is visible to the task at /mnt/sandbox; a symlink planted
  // there must not redirect the shim's writes.
  BERTH_TRY(UniqueFd fd, fs::open_at(dirfd_, name_, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, 0640));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errno_error("stat " + name_);
  if (!S_ISREG(st.st_mode)) return make_error(Code::kFailedPrecondition, name_ + " is not a regular file");
  fd_ = std::move(fd);
  size_ = static_cast<uint64_t>(st.st_size);
  return ok();
}

Status LogWriter::rotate() {
  if (max_files_ == 1) {
    if (::ftruncate(fd_.get(), 0) != 0) return errno_error("truncate " + name_);
    size_ = 0;
    return ok();
  }
  for (uint32_t i = max_files_ - 1; i >= 2; --i) {
    std::string from = SandboxLayout::log_name(name_, i - 1);
    std::string to = SandboxLayout::log_name(name_, i);
    if (::renameat(dirfd_, from.c_str(), dirfd_, to.c_str()) != 0 && errno != ENOENT)
      return errno_error("rotate " + from);
  }
  std::string first = SandboxLayout::log_name(name_, 1);
  if (::renameat(dirfd_, name_.c_str(), dirfd_, first.c_str()) != 0 && errno != ENOENT)
    return errno_error("rotate " + name_);
  return reopen();
}

Status LogWriter::append(std::string_view data) {
  while (!data.empty()) {
    size_t chunk = data.size();
    if (max_bytes_ > 0 && size_ + chunk > max_bytes_) {
      uint64_t room = max_bytes_ > size_ ? max_bytes_ - size_ : 0;
      // Prefer ending this file at a line boundary.
      size_t cut = room > 0 ? data.substr(0, room).rfind('\n') : std::string_view::npos;
      if (cut != std::string_view::npos) {
        chunk = cut + 1;
      } else if (size_ > 0) {
        BERTH_CHECK(rotate());
        continue;
      } else {
        chunk = static_cast<size_t>(room);  // a fresh file and a line longer than it: split
      }
    }
    BERTH_CHECK_CTX(fs::write_all(fd_.get(), data.data(), chunk), name_);
    size_ += chunk;
    data.remove_prefix(chunk);
    if (max_bytes_ > 0 && size_ >= max_bytes_ && !data.empty()) BERTH_CHECK(rotate());
  }
  return ok();
}

}  // namespace berth::sandbox
