#include "fetcher/input_file.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace berth::fetcher {
namespace {

Result<UniqueFd> openat2_fd(int dirfd, const std::string& path, int flags, uint64_t resolve, bool follow_last) {
  if (path.find('\0') != std::string::npos) return make_error(Code::kInvalidArgument, "path contains a NUL byte");
  struct open_how how {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC | (follow_last ? 0 : O_NOFOLLOW));
  how.resolve = resolve | RESOLVE_NO_MAGICLINKS;
  for (;;) {
    long fd = ::syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how);
    if (fd >= 0) return UniqueFd::adopt(static_cast<int>(fd));
    if (errno == EINTR || errno == EAGAIN) continue;
    if (errno == EXDEV)
      return make_error(Code::kPermissionDenied, path + " resolves outside the directory it must stay in");
    return errno_error(path);
  }
}

const char* type_name(mode_t m) {
  if (S_ISLNK(m)) return "a symbolic link";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISDIR(m)) return "a directory";
  return "not a regular file";
}

bool accepted(mode_t m, InputKind kind) {
  if (S_ISREG(m)) return kind != InputKind::kDirectory;
  if (S_ISDIR(m)) return kind != InputKind::kFile;
  return false;
}

std::string wanted(InputKind kind) {
  switch (kind) {
    case InputKind::kFile: return "a regular file";
    case InputKind::kDirectory: return "a directory";
    case InputKind::kFileOrDirectory: return "a regular file or a directory";
  }
  return "";
}

}  // namespace

Result<InputFile> open_input(int dirfd, const std::string& path, uint64_t resolve, InputKind kind,
                             bool follow_last) {
  BERTH_TRY(UniqueFd pathfd, openat2_fd(dirfd, path, O_PATH, resolve, follow_last));
  struct stat st {};
  if (::fstat(pathfd.get(), &st) != 0) return errno_error("stat " + path);
  if (!accepted(st.st_mode, kind))
    return make_error(Code::kInvalidArgument,
                      path + " is " + type_name(st.st_mode) + "; berth reads only " + wanted(kind) + " here");
  BERTH_TRY(UniqueFd fd, openat2_fd(dirfd, path, O_RDONLY | O_NONBLOCK | (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0),
                                    resolve, follow_last));
  struct stat again {};
  if (::fstat(fd.get(), &again) != 0) return errno_error("stat " + path);
  if (again.st_dev != st.st_dev || again.st_ino != st.st_ino)
    return make_error(Code::kInvalidArgument, path + " changed while it was being opened");
  InputFile in;
  in.fd = std::move(fd);
  in.is_dir = S_ISDIR(st.st_mode);
  in.size = in.is_dir ? 0 : static_cast<uint64_t>(st.st_size);
  return in;
}

}  // namespace berth::fetcher
