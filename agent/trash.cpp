// Background removal of discarded trees (trash.hpp).
#include "agent/trash.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/stat.h>

#include <memory>

#include "common/fs.hpp"
#include "common/log.hpp"

namespace berth::agent {

Result<std::unique_ptr<Trash>> Trash::open(const std::string& dir) {
  BERTH_CHECK(fs::mkdir_p(dir, 0700));
  BERTH_TRY(UniqueFd fd, fs::open_dir(dir));
  if (::fchmod(fd.get(), 0700) != 0) return errno_error("chmod " + dir);
  return std::unique_ptr<Trash>(new Trash(dir, std::move(fd)));
}

Trash::~Trash() { stopping_ = true; }  // the worker's destructor then skips what is queued

Status Trash::discard(const std::string& path, const std::string& label) {
  for (;;) {
    std::string name = label + "-" + std::to_string(next_++);
    if (::renameat2(AT_FDCWD, path.c_str(), fd_.get(), name.c_str(), RENAME_NOREPLACE) == 0) {
      queue_removal(name);
      return ok();
    }
    if (errno == EEXIST) continue;  // left by an earlier berthd: take the next number
    if (errno == ENOENT) return ok();
    // Another file system (an operator's own mount): removed here, as before the trash.
    if (errno == EXDEV) return fs::remove_tree(path);
    return errno_error("move " + path + " into " + dir_);
  }
}

Status Trash::resume() {
  BERTH_TRY(auto names, fs::list_dir(dir_));
  for (const auto& n : names) queue_removal(n);
  return ok();
}

void Trash::queue_removal(const std::string& name) {
  worker_.post([this, name] {
    if (stopping_) return;  // shutting down: the next start resumes it
    auto removed = fs::remove_tree_at(fd_.get(), name);
    if (!removed) log::warn("trash: " + removed.error().message);
  });
}

}  // namespace berth::agent
