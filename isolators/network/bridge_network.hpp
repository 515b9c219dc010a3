// BridgeNetwork: the node's bridge mode. reserve(id) and then wire(id) prepare, in berthd and
// before the task runs, everything a bridge task's network needs, through libmnl (no `ip`)
// (reserve: 1 and 2, and the paths of 3 and 5, which the task's spec names; wire: 3, 4 and 5,
// while the shim starts; the task joins the namespace through an fd the shim opens after):
//  1. the bridge (config name, MTU; the subnet's first address) if it is not there yet, with a
//     MAC address of its own (bridge_mac): a bridge without one takes the lowest MAC of its
//     ports, so it changed whenever a task's veth came or went, and every other task's cached
//     neighbour entry for the gateway went stale: its TCP streams stalled for seconds;
//  2. an address from the Ipam (persisted under <state_dir>/network/ipam);
//  3. a network namespace kept by a bind mount at <netns_dir>/<id>, which the task joins;
//  4. a veth pair "bth<first 12 of id>" on the bridge, its peer created as eth0 straight in that
//     namespace, with the address, lo and eth0 up and a default route through the bridge;
//  5. /etc/resolv.conf and /etc/hosts written to <sandbox>/network/ for bind mounts.
// Why prepare and not isolate(): Registry::isolate runs once the task has been released, and
// hooks run in the shim, outside berthd; a namespace berthd made itself is configured before
// the task's first instruction and entirely inside berthd.
// Every name derives from the id, so detach(id) (veth, namespace, address) is idempotent and
// reconcile(keep) removes what any other id left (a crash, a kill -9 between steps, a task
// that ended while berthd was down). A failed reserve detaches before returning; after a
// failed wire the caller detaches (the launch fails and its cleanup does).
// Threading: not thread-safe; the network isolator calls it under the Registry's lock.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "common/result.hpp"
#include "isolators/network/ipam.hpp"
#include "isolators/network/netlink.hpp"
#include "isolators/network/network_spec.hpp"

namespace berth::isolators {

// The MAC address berth gives the bridge it creates: 02:62 and then the subnet's gateway.
std::array<uint8_t, 6> bridge_mac(const Ipv4Subnet& subnet);

struct BridgeAttachment {
  std::string netns_path;
  uint32_t address = 0;
  std::string resolv_conf;  // host paths of the generated files
  std::string hosts;
};

// Deletes links on a thread of its own: a veth's RTM_DELLINK waits out an RCU grace period or
// two (15-50 ms here), which a caller under the Registry's lock should not. The thread starts
// with the first link; destruction deletes what is queued, then joins it. A crash loses the
// queue; BridgeNetwork::reconcile deletes such leftovers at startup, by name.
class LinkReaper {
 public:
  LinkReaper() = default;
  ~LinkReaper();
  LinkReaper(const LinkReaper&) = delete;
  LinkReaper& operator=(const LinkReaper&) = delete;
  void remove(std::string name);

 private:
  void run();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  bool stop_ = false;
  std::thread thread_;
};

class BridgeNetwork {
 public:
  explicit BridgeNetwork(NetworkConfig config) : config_(std::move(config)) {}

  // The bridge (if need be) and an address; the paths wire() fills.
  Result<BridgeAttachment> reserve(const std::string& id, const std::string& sandbox_dir);
  // The namespace at netns_path(id), its veth pair with `address` (reserve's) and route, and the
  // name files.
  Status wire(const std::string& id, uint32_t address, const std::string& sandbox_dir, const std::string& hostname);
  // Removes the task's namespace, address and veth pair; with `reap`, the veth is deleted by
  // the LinkReaper after this returns (the task's cleanup), else before.
  Status detach(const std::string& id, bool reap = false);
  // Keeps the attachments of `keep` (re-adopted after a restart) and removes every other one.
  Status reconcile(const std::set<std::string>& keep);
  // Whether `id` has a namespace of this network (survives a restart: it is a bind mount).
  bool attached(const std::string& id) const;
  // Whether the node's bridge is there (false when netlink cannot tell).
  bool bridge_exists() const;

  static std::string host_veth_name(const std::string& id) { return "bth" + id.substr(0, 12); }
  std::string netns_path(const std::string& id) const { return config_.netns_dir + "/" + id; }

 private:
  Result<Ipam*> ipam();
  // The bridge's index, after creating (with bridge_mac), addressing and bringing it up if need be.
  Result<int> ensure_bridge(netlink::Netlink& nl);
  Status wire_address(const std::string& id, uint32_t address);
  // The generated /etc files' paths, and the files themselves.
  static BridgeAttachment name_files(const std::string& sandbox_dir);
  Status write_files(const std::string& sandbox_dir, const std::string& hostname, uint32_t address);

  NetworkConfig config_;
  std::optional<Ipam> ipam_;
  std::optional<int> ready_bridge_;  // the bridge ensure_bridge last set up
  LinkReaper reaper_;
};

}  // namespace berth::isolators
