#include "cgroups/hierarchies.hpp"

#include <map>
#include <sstream>

#include "common/fs.hpp"
#include "common/mountinfo.hpp"

namespace berth::cgroups {
namespace {

std::set<std::string> split_commas(const std::string& s) {
  std::set<std::string> out;
  std::istringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) out.insert(item);
  return out;
}

// "N:ctrl1,ctrl2:/path" lines keyed by their controller list ("" for the unified one).
std::map<std::string, std::string> parse_memberships(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto a = line.find(':');
    auto b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    out[line.substr(a + 1, b - a - 1)] = line.substr(b + 1);
  }
  return out;
}

// berthd's cgroup seen through a mount of `root`: "" at the mount itself, nullopt if outside.
std::optional<std::string> relative_to(const std::string& own, const std::string& root) {
  std::string o = own == "/" ? "" : own;
  std::string r = root == "/" ? "" : root;
  if (o == r) return std::string();
  if (o.rfind(r + "/", 0) != 0) return std::nullopt;
  return o.substr(r.size());
}

// Whether a mount listed later in mountinfo (mounted after it) sits on the same mount point
// or on a directory above it: then its files cannot be reached by path (a container's or a
// test's tmpfs over /sys/fs/cgroup/pids, say), so it serves nothing here.
bool covered(const std::vector<fs::MountEntry>& mounts, size_t i) {
  const std::string& mp = mounts[i].mount_point;
  for (size_t j = i + 1; j < mounts.size(); ++j) {
    const std::string& later = mounts[j].mount_point;
    if (later == mp || mp.rfind(later + "/", 0) == 0) return true;
  }
  return false;
}

}  // namespace

const std::set<std::string>& known_controllers() {
  static const std::set<std::string> kKnown = {"cpu",     "cpuacct", "memory", "pids", "freezer",
                                               "devices", "blkio",   "cpuset", "io"};
  return kKnown;
}

std::string Hierarchy::name() const {
  std::string out;
  for (const auto& c : controllers) out += (out.empty() ? "" : ",") + c;
  return out;
}

const Hierarchy* Hierarchies::v1_for(std::string_view controller) const {
  for (const auto& h : v1)
    if (h.controllers.count(std::string(controller))) return &h;
  return nullptr;
}

Hierarchies parse_hierarchies(const std::string& mountinfo_text, const std::string& proc_cgroup_text) {
  Hierarchies out;
  auto member = parse_memberships(proc_cgroup_text);
  std::set<std::string> taken;  // a controller is served by one hierarchy (first mount wins)
  const auto mounts = fs::parse_mountinfo(mountinfo_text);
  for (size_t i = 0; i < mounts.size(); ++i) {
    const auto& m = mounts[i];
    if ((m.fstype == "cgroup2" || m.fstype == "cgroup") && covered(mounts, i)) continue;
    if (m.fstype == "cgroup2") {
      if (out.unified) continue;
      auto it = member.find("");
      if (it == member.end()) continue;
      auto own = relative_to(it->second, m.root);
      if (!own) continue;
      out.unified = Hierarchy{Kind::kV2, m.mount_point, {}, *own};
    } else if (m.fstype == "cgroup") {
      std::set<std::string> opts = split_commas(m.super_options);
      Hierarchy h{Kind::kV1, m.mount_point, {}, ""};
      for (const auto& c : opts)
        if (known_controllers().count(c) && !taken.count(c)) h.controllers.insert(c);
      if (h.controllers.empty()) continue;
      // /proc/self/cgroup names the hierarchy by all its controllers, known or not.
      std::optional<std::string> own;
      for (const auto& [names, path] : member) {
        if (names.empty()) continue;
        auto listed = split_commas(names);
        if (listed.count(*h.controllers.begin())) own = relative_to(path, m.root);
      }
      if (!own) continue;
      h.own = *own;
      taken.insert(h.controllers.begin(), h.controllers.end());
      out.v1.push_back(std::move(h));
    }
  }
  return out;
}

Result<Hierarchies> discover_hierarchies() {
  BERTH_TRY(std::string mountinfo, fs::read_file("/proc/self/mountinfo"));
  BERTH_TRY(std::string own, fs::read_file("/proc/self/cgroup"));
  return parse_hierarchies(mountinfo, own);
}

}  // namespace berth::cgroups
