#include "agent/node_cgroups.hpp"

#include <unistd.h>

#include <vector>

#include "cgroups/hierarchies.hpp"
#include "common/fs.hpp"
#include "common/log.hpp"

namespace berth::agent {
namespace {

bool is_at_or_below(const std::string& path, const std::string& dir) {
  return path == dir || path.rfind(dir + "/", 0) == 0;
}

// cgroup v2's no-internal-process rule: a cgroup that hands controllers to its children
// (subtree_control) may hold no process itself (the hierarchy root excepted). berthd starts
// in some cgroup (a systemd unit's, or the root in a VM); when berth's root is at or below
// it, berthd moves itself into <root>/agent, a leaf, so every level from its old cgroup down
// to <root>/containers can delegate controllers. Levels above berthd's own cgroup belong to
// whoever manages it (systemd) and are left alone.
Status adopt_cgroup_tree(NodeCgroups& node, const cgroups::Cgroup& root, std::optional<cgroups::Cgroup>& tasks) {
  std::string own;
  BERTH_TRY(own, cgroups::own_cgroup());
  std::string own_path = node.mount + (own == "/" ? "" : own);
  BERTH_TRY(cgroups::Cgroup containers, root.create_child("containers"));
  BERTH_TRY(cgroups::Cgroup shims, root.create_child("shims"));
  node.shims_path = shims.path();
  if (own_path != node.mount && is_at_or_below(node.root, own_path)) {
    BERTH_TRY(cgroups::Cgroup agent, root.create_child("agent"));
    BERTH_CHECK_CTX(agent.add_proc(::getpid()), "move berthd out of " + own_path);
    log::info("moved berthd into " + agent.path() + " so " + own_path + " can delegate controllers");
  }
  // Each level from below the mount down to <root>/containers delegates what it has; one the
  // kernel refuses (a v1 hierarchy holds it, or processes still sit in that level) simply
  // stays unusable and /v1/info says so.
  std::vector<std::string> levels;
  for (std::string p = node.root; p.size() > node.mount.size() && is_at_or_below(p, node.mount);
       p = p.substr(0, p.rfind('/'))) {
    if (is_at_or_below(own_path, p) && own_path != p) break;  // above berthd: not ours
    levels.insert(levels.begin(), p);
  }
  for (const auto& p : levels) {
    auto cg = cgroups::Cgroup::open(p);
    if (!cg) continue;
    auto available = cg->controllers();
    if (!available) continue;
    for (const auto& c : *available) (void)cg->enable_controllers({c});
  }
  BERTH_TRY(auto available, root.controllers());
  for (const auto& c : available) {
    if (root.enable_controllers({c}).has_value()) (void)containers.enable_controllers({c});
  }
  BERTH_TRY(std::string enabled, containers.read("cgroup.subtree_control"));
  node.controllers.clear();
  for (size_t i = 0, j; i < enabled.size(); i = j + 1) {
    j = enabled.find_first_of(" \n", i);
    if (j == std::string::npos) j = enabled.size();
    if (j > i) node.controllers.insert(enabled.substr(i, j - i));
  }
  tasks.emplace(std::move(containers));
  return ok();
}

// berth's root relative to each hierarchy's mount: the configured root's path below the
// cgroup2 mount, or berthd's own cgroup there + "/berth".
Result<std::string> relative_root(const Config& config, const NodeCgroups& node, const cgroups::Hierarchy& h) {
  if (config.cgroup_root.empty()) return h.own + "/berth";
  if (!is_at_or_below(config.cgroup_root, node.mount) || config.cgroup_root == node.mount)
    return make_error(Code::kInvalidArgument, "cgroup_root " + config.cgroup_root + " is not below the cgroup2 mount " +
                                                  node.mount + "; give a path inside it");
  return config.cgroup_root.substr(node.mount.size());
}

// The same root in every v1 hierarchy with a controller cgroup2 does not offer: its
// containers/ directory joins the task root. A hierarchy berth cannot write is left out (its
// controllers stay unusable and /v1/info says so).
Status adopt_v1_hierarchies(NodeCgroups& node, const Config& config, const cgroups::Hierarchies& found,
                            std::vector<cgroups::V1Dir>& parents) {
  for (const auto& h : found.v1) {
    std::set<std::string> wanted;
    for (const auto& c : h.controllers)
      if (!node.controllers.count(c)) wanted.insert(c);
    if (wanted.empty()) continue;
    BERTH_TRY(std::string rel, relative_root(config, node, h));
    auto containers = [&]() -> Result<cgroups::Cgroup> {
      BERTH_TRY(cgroups::Cgroup top, cgroups::Cgroup::open(h.mount, cgroups::Kind::kV1));
      BERTH_TRY(cgroups::Cgroup root, top.create_descendant(rel));
      return root.create_child("containers");
    }();
    if (!containers) {
      log::warn("cgroup v1 " + h.name() + " at " + h.mount + " unusable: " + containers.error().message);
      continue;
    }
    for (const auto& c : h.controllers) {
      node.controllers.insert(c);
      node.serving[c] = NodeCgroups::Serving{cgroups::Kind::kV1, h.mount, h.mount + rel};
    }
    if (h.controllers.count("memory") && !containers->has_file("memory.memsw.limit_in_bytes"))
      node.notes.push_back("memory_swap_mb: swap is not limited (the kernel has no swap accounting)");
    if (h.controllers.count("memory")) node.notes.push_back("memory_high_mb is a soft limit on cgroup v1");
    parents.push_back(cgroups::V1Dir{h.controllers, std::move(containers).value()});
  }
  return ok();
}

}  // namespace

Result<NodeCgroups> setup_node_cgroups(const Config& config) {
  NodeCgroups node;
  BERTH_TRY(std::string mountinfo, fs::read_file("/proc/self/mountinfo"));
  BERTH_TRY(node.mount, cgroups::find_cgroup2_mount(mountinfo));
  node.hybrid = mountinfo.find(" - cgroup ") != std::string::npos;
  if (!config.cgroup_root.empty()) {
    node.root = config.cgroup_root;
  } else {
    std::string own;
    BERTH_TRY(own, cgroups::own_cgroup());
    node.root = node.mount + (own == "/" ? "" : own) + "/berth";
  }
  BERTH_TRY_CTX(cgroups::Cgroup root, cgroups::Cgroup::open_or_create(node.root), "cgroup root");
  std::optional<cgroups::Cgroup> containers;
  BERTH_CHECK_CTX(adopt_cgroup_tree(node, root, containers), "cgroup root");
  for (const auto& c : node.controllers) node.serving[c] = NodeCgroups::Serving{cgroups::Kind::kV2, node.mount, node.root};
  BERTH_TRY(std::string own, fs::read_file("/proc/self/cgroup"));
  auto found = cgroups::parse_hierarchies(mountinfo, own);
  std::vector<cgroups::V1Dir> v1;
  BERTH_CHECK_CTX(adopt_v1_hierarchies(node, config, found, v1), "cgroup root");
  node.tasks.emplace(cgroups::TaskCgroupRoot::adopt(std::move(*containers), std::move(v1)));
  return node;
}

}  // namespace berth::agent
