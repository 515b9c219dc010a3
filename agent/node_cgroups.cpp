#include "agent/node_cgroups.hpp"

#include <unistd.h>

#include <vector>

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
Status adopt_cgroup_tree(NodeCgroups& node, const cgroups::Cgroup& root) {
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
  node.tasks.emplace(cgroups::TaskCgroupRoot::adopt(std::move(containers)));
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
  BERTH_CHECK_CTX(adopt_cgroup_tree(node, root), "cgroup root");
  return node;
}

}  // namespace berth::agent
