#include "cgroups/events.hpp"

#include <sys/inotify.h>

#include <algorithm>
#include <cerrno>
#include <set>

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
  return EventWatcher(UniqueFd::adopt(fd));
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
  auto it = keys_.find(key);
  if (it == keys_.end()) return;
  for (int wd : it->second) forget(wd, key);
  keys_.erase(it);
}

Result<std::vector<Change>> EventWatcher::read_changes() {
  std::vector<Change> out;
  std::set<std::pair<std::string, EventFile>> seen;
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
