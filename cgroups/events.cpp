#include "cgroups/events.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "common/fs.hpp"

namespace berth::cgroups {

const char* event_file_name(EventFile f) {
  switch (f) {
    case EventFile::kCgroupEvents: return "cgroup.events";
    case EventFile::kMemoryEvents: return "memory.events";
    case EventFile::kPidsEvents: return "pids.events";
  }
  return "cgroup.events";
}

Result<EventWatcher> EventWatcher::create() {
  int fd = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (fd < 0) return errno_error("inotify_init1");
  UniqueFd inotify = UniqueFd::adopt(fd);
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return errno_error("epoll_create1");
  UniqueFd epoll = UniqueFd::adopt(ep);
  struct epoll_event ev {};
  ev.events = EPOLLIN;
  ev.data.fd = inotify.get();
  if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, inotify.get(), &ev) != 0) return errno_error("epoll_ctl inotify");
  return EventWatcher(std::move(inotify), std::move(epoll));
}

Status EventWatcher::add_inotify(const std::string& key, const Cgroup& cg, EventFile f) {
  std::string path = "/proc/self/fd/" + std::to_string(cg.fd()) + "/" + event_file_name(f);
  int wd = ::inotify_add_watch(inotify_.get(), path.c_str(), IN_MODIFY);
  if (wd < 0) return errno_error("watch " + cg.path() + "/" + event_file_name(f));
  by_wd_[wd].push_back(Target{key, f});
  keys_[key].push_back(wd);
  return ok();
}

Status EventWatcher::add_oom_eventfd(const std::string& key, const Cgroup& cg) {
  BERTH_TRY_CTX(UniqueFd oom, fs::open_at(cg.fd(), "memory.oom_control", O_RDONLY), "cgroup " + cg.path());
  int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd < 0) return errno_error("eventfd");
  UniqueFd event = UniqueFd::adopt(efd);
  BERTH_CHECK(cg.write("cgroup.event_control", std::to_string(event.get()) + " " + std::to_string(oom.get())));
  struct epoll_event ev {};
  ev.events = EPOLLIN;
  ev.data.fd = event.get();
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, event.get(), &ev) != 0) return errno_error("epoll_ctl eventfd");
  oom_fds_[key] = OomEventFd{std::move(event), std::move(oom)};
  keys_[key];  // the key is watched even with no inotify watch
  return ok();
}

Result<std::vector<EventFile>> EventWatcher::watch(const std::string& key, const TaskCgroups& task) {
  if (keys_.count(key)) return make_error(Code::kAlreadyExists, "already watching '" + key + "'");
  std::vector<EventFile> files;
  auto st = add_inotify(key, task.unified(), EventFile::kCgroupEvents);
  if (st) files.push_back(EventFile::kCgroupEvents);
  const Cgroup& mem = task.for_controller("memory");
  if (st && mem.kind() == Kind::kV1 && mem.has_file("memory.oom_control")) {
    st = add_oom_eventfd(key, mem);
    if (st) files.push_back(EventFile::kMemoryEvents);
  } else if (st && mem.kind() == Kind::kV2 && mem.has_file("memory.events")) {
    st = add_inotify(key, mem, EventFile::kMemoryEvents);
    if (st) files.push_back(EventFile::kMemoryEvents);
  }
  const Cgroup& pids = task.for_controller("pids");
  if (st && pids.kind() == Kind::kV2 && pids.has_file("pids.events")) {
    st = add_inotify(key, pids, EventFile::kPidsEvents);
    if (st) files.push_back(EventFile::kPidsEvents);
  }
  if (!st) {
    unwatch(key);
    return std::move(st).error();
  }
  return files;
}

Result<std::vector<EventFile>> EventWatcher::watch(const std::string& key, const Cgroup& cg) {
  if (keys_.count(key)) return make_error(Code::kAlreadyExists, "already watching '" + key + "'");
  // Through the cgroup's own dir fd, so a cgroup renamed or re-created under the same path
  // cannot be watched by mistake.
  const std::string dir = "/proc/self/fd/" + std::to_string(cg.fd());
  std::vector<int>& wds = keys_[key];
  std::vector<EventFile> files;
  auto add = [&](const std::string& path, uint32_t mask, Target target) -> Status {
    int wd = ::inotify_add_watch(inotify_.get(), path.c_str(), mask);
    if (wd < 0) return errno_error("watch " + cg.path() + path.substr(dir.size()));
    by_wd_[wd].push_back(std::move(target));
    wds.push_back(wd);
    return ok();
  };
  Status st = ok();
  for (EventFile f : {EventFile::kCgroupEvents, EventFile::kMemoryEvents, EventFile::kPidsEvents}) {
    if (!st) break;
    st = add(dir + "/" + event_file_name(f), IN_MODIFY, Target{key, f});
    if (st) {
      files.push_back(f);
    } else if (st.error().sys_errno == ENOENT && f != EventFile::kCgroupEvents) {
      st = ok();  // controller not enabled here
    }
  }
  if (!st) {
    unwatch(key);
    return std::move(st).error();
  }
  return files;
}

void EventWatcher::forget(int wd, const std::string& key) {
  auto w = by_wd_.find(wd);
  if (w == by_wd_.end()) return;
  auto& targets = w->second;
  targets.erase(std::remove_if(targets.begin(), targets.end(),
                               [&](const Target& t) { return t.key == key; }),
                targets.end());
  if (targets.empty()) {
    ::inotify_rm_watch(inotify_.get(), wd);
    by_wd_.erase(w);
  }
}

void EventWatcher::unwatch(const std::string& key) {
  if (auto o = oom_fds_.find(key); o != oom_fds_.end()) {
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, o->second.eventfd.get(), nullptr);
    oom_fds_.erase(o);
  }
  auto it = keys_.find(key);
  if (it == keys_.end()) return;
  for (int wd : it->second) forget(wd, key);
  keys_.erase(it);
}

Result<std::vector<Change>> EventWatcher::read_changes() {
  std::vector<Change> out;
  std::set<std::pair<std::string, EventFile>> seen;
  // v1 OOM eventfds: one read each drains it (a counter); the kernel also signals it when
  // the cgroup goes away, which the caller's re-read of the counters tells apart.
  for (const auto& [key, o] : oom_fds_) {
    uint64_t n = 0;
    if (::read(o.eventfd.get(), &n, sizeof(n)) == sizeof(n) && seen.insert({key, EventFile::kMemoryEvents}).second)
      out.push_back(Change{key, EventFile::kMemoryEvents});
  }
  alignas(struct inotify_event) char buf[8192];
  for (;;) {
    ssize_t n = ::read(inotify_.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      return errno_error("read inotify events");
    }
    if (n == 0) break;
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<struct inotify_event*>(p);
      p += sizeof(struct inotify_event) + ev->len;
      if (ev->mask & IN_Q_OVERFLOW) {
        // Events were dropped: say every file may have changed, the caller re-reads them all.
        for (const auto& [wd, targets] : by_wd_)
          for (const Target& t : targets)
            if (seen.insert({t.key, t.file}).second) out.push_back(Change{t.key, t.file});
        continue;
      }
      auto w = by_wd_.find(ev->wd);
      if (w == by_wd_.end()) continue;  // unwatched while the event was queued
      if (ev->mask & IN_IGNORED) {
        // The file is gone and the kernel dropped the watch (a fake tree; cgroupfs never does
        // this while we watch). Its key is removed once none of its files is left.
        for (const Target& t : w->second) {
          auto k = keys_.find(t.key);
          if (k == keys_.end()) continue;
          std::erase(k->second, ev->wd);
          if (k->second.empty()) {
            keys_.erase(k);
            out.push_back(Change{t.key, t.file, true});
          }
        }
        by_wd_.erase(w);
        continue;
      }
      for (const Target& t : w->second)
        if (seen.insert({t.key, t.file}).second) out.push_back(Change{t.key, t.file});
    }
  }
  return out;
}

}  // namespace berth::cgroups
