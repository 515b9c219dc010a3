#include "cgroups/cgroup.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sstream>
#include <thread>

#include "common/fs.hpp"
#include "common/mountinfo.hpp"

namespace berth::cgroups {

Result<std::string> find_cgroup2_mount(const std::string& mountinfo_text) {
  for (const auto& m : fs::parse_mountinfo(mountinfo_text)) {
    // A bind of a sub-cgroup is not the hierarchy root.
    if (m.fstype == "cgroup2" && m.root == "/") return m.mount_point;
  }
  return make_error(Code::kFailedPrecondition, "no cgroup2 file system is mounted");
}

Result<std::string> find_cgroup2_mount() {
  BERTH_TRY(std::string text, fs::read_file("/proc/self/mountinfo"));
  return find_cgroup2_mount(text);
}

Result<std::string> parse_own_cgroup(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  }
  return make_error(Code::kFailedPrecondition, "process is in no cgroup2 group");
}

Result<std::string> own_cgroup() {
  BERTH_TRY(std::string text, fs::read_file("/proc/self/cgroup"));
  return parse_own_cgroup(text);
}

const char* kind_name(Kind k) { return k == Kind::kV1 ? "v1" : "v2"; }

Result<Cgroup> Cgroup::open(const std::string& path, Kind kind) {
  BERTH_TRY(UniqueFd fd, fs::open_dir(path));
  return Cgroup(std::move(fd), path, kind);
}

Result<Cgroup> Cgroup::open_or_create(const std::string& path, Kind kind) {
  BERTH_CHECK_CTX(fs::mkdir_p(path), "create cgroup");
  return open(path, kind);
}

bool Cgroup::has_file(const char* name) const {
  struct stat st {};
  return ::fstatat(fd_.get(), name, &st, 0) == 0;
}

Result<Cgroup> Cgroup::child(const std::string& name) const {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
    return make_error(Code::kInvalidArgument, "bad cgroup name '" + name + "'");
  BERTH_TRY(UniqueFd fd, fs::open_dir_nofollow(fd_.get(), name));
  return Cgroup(std::move(fd), path_ + "/" + name, kind_);
}

Result<Cgroup> Cgroup::create_child(const std::string& name) const {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
    return make_error(Code::kInvalidArgument, "bad cgroup name '" + name + "'");
  if (::mkdirat(fd_.get(), name.c_str(), 0755) != 0 && errno != EEXIST)
    return errno_error("create cgroup " + path_ + "/" + name);
  BERTH_TRY(Cgroup c, child(name));
  if (kind_ == Kind::kV1 && c.has_file("cpuset.cpus")) {
    for (const char* f : {"cpuset.cpus", "cpuset.mems"}) {
      BERTH_TRY(std::string mine, c.read(f));
      if (mine.find_first_not_of(" \n") != std::string::npos) continue;
      BERTH_TRY(std::string parents, read(f));
      while (!parents.empty() && parents.back() == '\n') parents.pop_back();
      BERTH_CHECK(c.write(f, parents));
    }
  }
  return c;
}

Result<Cgroup> Cgroup::create_descendant(const std::string& rel) const {
  BERTH_TRY(Cgroup at, open(path_, kind_));
  std::istringstream in(rel);
  std::string part;
  while (std::getline(in, part, '/')) {
    if (part.empty()) continue;
    BERTH_TRY(Cgroup next, at.create_child(part));
    at = std::move(next);
  }
  return at;
}

std::vector<std::string> Cgroup::children() const {
  std::vector<std::string> out;
  auto names = fs::list_dir(path_);
  if (!names) return out;
  for (auto& n : *names) {
    struct stat st {};
    if (::fstatat(fd_.get(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
      out.push_back(n);
  }
  return out;
}

Result<std::string> Cgroup::read(const std::string& file) const {
  auto r = fs::read_file_at(fd_.get(), file);
  if (!r) return std::move(r).error().wrap("cgroup " + path_);
  return r;
}

Status Cgroup::write(const std::string& file, const std::string& value) const {
  BERTH_TRY_CTX(UniqueFd fd, fs::open_at(fd_.get(), file, O_WRONLY | O_TRUNC | O_NOFOLLOW), "cgroup " + path_);
  // write_all retries EINTR and continues after a short write.
  auto st = fs::write_all(fd.get(), value.data(), value.size());
  if (!st) return std::move(st).error().wrap(path_ + "/" + file + " '" + value + "'");
  return ok();
}

Result<std::set<std::string>> Cgroup::controllers() const {
  BERTH_TRY(std::string text, read("cgroup.controllers"));
  std::set<std::string> out;
  std::istringstream in(text);
  std::string c;
  while (in >> c) out.insert(c);
  return out;
}

Status Cgroup::enable_controllers(const std::set<std::string>& names) const {
  if (names.empty()) return ok();
  std::string v;
  for (const auto& n : names) v += (v.empty() ? "+" : " +") + n;
  return write("cgroup.subtree_control", v);
}

Result<bool> Cgroup::populated_v1() const {
  // v1 has no cgroup.events: walk the directories (explicitly, bounded) for any process.
  constexpr size_t kMaxDirs = 10000;
  std::vector<std::string> todo = {""};
  for (size_t seen = 0; !todo.empty(); ++seen) {
    if (seen >= kMaxDirs)
      return make_error(Code::kFailedPrecondition, "cgroup " + path_ + " has more than 10000 nested groups");
    std::string rel = todo.back();
    todo.pop_back();
    auto dir = rel.empty() ? Cgroup::open(path_, kind_) : Cgroup::open(path_ + "/" + rel, kind_);
    if (!dir) {
      if (dir.error().sys_errno == ENOENT && !rel.empty()) continue;
      return std::move(dir).error();
    }
    auto pids = dir->procs();
    if (!pids) {
      if (!rel.empty()) continue;
      return std::move(pids).error();
    }
    if (!pids->empty()) return true;
    for (const auto& c : dir->children()) todo.push_back(rel.empty() ? c : rel + "/" + c);
  }
  return false;
}

Result<bool> Cgroup::populated() const {
  if (kind_ == Kind::kV1) return populated_v1();
  BERTH_TRY(std::string text, read("cgroup.events"));
  std::istringstream in(text);
  std::string key;
  int value = 0;
  while (in >> key >> value) {
    if (key == "populated") return value != 0;
  }
  return make_error(Code::kInternal, "cgroup " + path_ + ": no 'populated' in cgroup.events");
}

Result<std::vector<pid_t>> Cgroup::procs() const {
  BERTH_TRY(std::string text, read("cgroup.procs"));
  std::vector<pid_t> out;
  std::istringstream in(text);
  long pid;
  while (in >> pid) out.push_back(static_cast<pid_t>(pid));
  return out;
}

Status Cgroup::add_proc(pid_t pid) const { return write("cgroup.procs", std::to_string(pid)); }

Status Cgroup::kill() const {
  struct stat st {};
  if (::fstatat(fd_.get(), "cgroup.kill", &st, 0) == 0) return write("cgroup.kill", "1");
  // Old kernels: SIGKILL each pid, repeating until the set is stable (forks race with us).
  for (int round = 0; round < 100; ++round) {
    BERTH_TRY(auto pids, procs());
    for (const auto& name : children()) {
      BERTH_TRY(Cgroup c, child(name));
      BERTH_CHECK(c.kill());
    }
    if (pids.empty()) return ok();
    for (pid_t p : pids) ::kill(p, SIGKILL);
  }
  return make_error(Code::kInternal, "cgroup " + path_ + ": processes keep appearing");
}

Status Cgroup::wait_empty(std::chrono::milliseconds timeout) const {
  // cgroup.events raises a modify event when "populated" changes; inotify wakes us for it.
  int ifd = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  UniqueFd inotify = UniqueFd::adopt(ifd);
  if (inotify.valid() && kind_ == Kind::kV2) {
    std::string events = path_ + "/cgroup.events";
    ::inotify_add_watch(inotify.get(), events.c_str(), IN_MODIFY);
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    BERTH_TRY(bool busy, populated());
    if (!busy) return ok();
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return make_error(Code::kFailedPrecondition, "cgroup " + path_ + " still has processes");
    if (inotify.valid() && kind_ == Kind::kV2) {
      struct pollfd pfd {inotify.get(), POLLIN, 0};
      ::poll(&pfd, 1, static_cast<int>(std::min<long>(left.count(), 100)));
      char buf[4096];
      while (::read(inotify.get(), buf, sizeof(buf)) > 0) {}
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
}

Status Cgroup::remove_child(const std::string& name, std::chrono::milliseconds timeout) const {
  auto c = child(name);
  if (!c) {
    if (c.error().sys_errno == ENOENT) return ok();
    return std::move(c).error();
  }
  // Another remover may win any step below: ENOENT (gone) or ENODEV (a file of a cgroup
  // removed under us) means the job is done.
  auto gone = [](const Error& e) { return e.sys_errno == ENOENT || e.sys_errno == ENODEV; };
  for (const auto& sub : c->children()) {
    auto r = c->remove_child(sub, timeout);
    if (!r && !gone(r.error())) return std::move(r).error();
  }
  auto busy = c->populated();
  if (!busy) return gone(busy.error()) ? ok() : std::move(busy).error();
  if (*busy) {
    auto killed = c->kill();
    if (!killed) return gone(killed.error()) ? ok() : std::move(killed).error();
    auto empty = c->wait_empty(timeout);
    if (!empty) return gone(empty.error()) ? ok() : std::move(empty).error();
  }
  if (::unlinkat(fd_.get(), name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
    return errno_error("remove cgroup " + path_ + "/" + name);
  return ok();
}

}  // namespace berth::cgroups
