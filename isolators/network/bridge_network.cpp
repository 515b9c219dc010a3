#include "isolators/network/bridge_network.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sstream>

#include "common/fs.hpp"
#include "common/log.hpp"
#include "isolators/network/netlink.hpp"
#include "isolators/network/netns_file.hpp"

namespace berth::isolators {
namespace {

constexpr size_t kMaxNetnsFiles = 65536;  // one per address of a /16

// The host's name servers a task can reach: not loopback ones.
std::vector<std::string> host_name_servers() {
  std::vector<std::string> out;
  auto text = fs::read_file("/etc/resolv.conf");
  if (!text) return out;
  std::istringstream in(text->substr(0, 64 * 1024));
  std::string key, value;
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    if (!(words >> key >> value) || key != "nameserver") continue;
    if (value.rfind("127.", 0) == 0 || value == "::1") continue;
    out.push_back(value);
  }
  return out;
}

}  // namespace

std::array<uint8_t, 6> bridge_mac(const Ipv4Subnet& subnet) {
  // Locally administered unicast (02:...), then the gateway's address: the same bridge made
  // again keeps its MAC, so no neighbour cache goes stale then either.
  uint32_t g = subnet.gateway();
  return {0x02, 0x62, static_cast<uint8_t>(g >> 24), static_cast<uint8_t>(g >> 16), static_cast<uint8_t>(g >> 8),
          static_cast<uint8_t>(g)};
}

Result<Ipam*> BridgeNetwork::ipam() {
  if (config_.ipam_dir.empty() || config_.netns_dir.empty())
    return make_error(Code::kFailedPrecondition, "this berthd has no bridge network configured");
  if (!ipam_) {
    BERTH_TRY(Ipam opened, Ipam::open(config_.ipam_dir, config_.bridge.subnet));
    ipam_.emplace(std::move(opened));
  }
  return &*ipam_;
}

bool BridgeNetwork::bridge_exists() const {
  auto nl = netlink::Netlink::open();
  if (!nl) return false;
  auto index = nl->link_index(config_.bridge.name);
  return index && index->has_value();
}

Result<int> BridgeNetwork::ensure_bridge(netlink::Netlink& nl) {
  const auto& b = config_.bridge;
  BERTH_TRY(auto index, nl.link_index(b.name));
  // The same bridge as last time (not deleted and re-made by someone): already addressed and up.
  if (index && index == ready_bridge_) return *index;
  ready_bridge_.reset();
  if (!index) {
    auto added = nl.add_bridge(b.name, b.mtu, bridge_mac(b.subnet));
    if (!added && added.error().code != Code::kAlreadyExists) return std::move(added).error();  // a racing creator is fine
    BERTH_TRY(index, nl.link_index(b.name));
    if (!index) return make_error(Code::kInternal, "bridge " + b.name + " vanished after it was created");
  }
  BERTH_CHECK(nl.add_address(*index, b.subnet.gateway(), b.subnet.prefix));
  BERTH_CHECK(nl.set_up(*index));
  ready_bridge_ = *index;
  return *index;
}

Status BridgeNetwork::wire_address(const std::string& id, uint32_t address) {
  const auto& b = config_.bridge;
  BERTH_CHECK(fs::mkdir_p(config_.netns_dir, 0700));
  // The socket that configures the task's side is opened in the new namespace as it is made:
  // no thread has to join it later.
  std::optional<netlink::Netlink> inside;
  BERTH_CHECK(create_netns_file(netns_path(id), [&]() -> Status {
    BERTH_TRY(auto nl, netlink::Netlink::open());
    inside.emplace(std::move(nl));
    return ok();
  }));
  int raw = ::open(netns_path(id).c_str(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) return errno_error("open " + netns_path(id));
  UniqueFd ns = UniqueFd::adopt(raw);

  BERTH_TRY(auto nl, netlink::Netlink::open());
  BERTH_TRY(int bridge, ensure_bridge(nl));
  BERTH_CHECK(nl.add_veth(host_veth_name(id), "eth0", b.mtu, ns.get(), bridge));

  BERTH_TRY(auto eth0, inside->link_index("eth0"));
  if (!eth0) return make_error(Code::kInternal, "the task's namespace lacks eth0");
  return inside->set_up_task_side(*eth0, address, b.subnet.prefix, b.subnet.gateway());
}

BridgeAttachment BridgeNetwork::name_files(const std::string& sandbox_dir) {
  BridgeAttachment a;
  a.resolv_conf = sandbox_dir + "/network/resolv.conf";
  a.hosts = sandbox_dir + "/network/hosts";
  return a;
}

Status BridgeNetwork::write_files(const std::string& sandbox_dir, const std::string& hostname, uint32_t address) {
  BERTH_CHECK(fs::mkdir_p(sandbox_dir + "/network", 0755));
  std::string resolv = "# written by berth for this task\n";
  for (const auto& ns : config_.bridge.dns.empty() ? host_name_servers() : config_.bridge.dns)
    resolv += "nameserver " + ns + "\n";
  std::string hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
  if (!hostname.empty()) hosts += ipv4_text(address) + "\t" + hostname + "\n";
  BridgeAttachment a = name_files(sandbox_dir);
  // Written again for every launch: nothing to make durable.
  BERTH_CHECK(fs::write_file_atomic(a.resolv_conf, resolv, 0644, fs::Durability::kVolatile));
  return fs::write_file_atomic(a.hosts, hosts, 0644, fs::Durability::kVolatile);
}

Result<BridgeAttachment> BridgeNetwork::reserve(const std::string& id, const std::string& sandbox_dir) {
  BERTH_TRY(Ipam * pool, ipam());
  BERTH_TRY(uint32_t address, pool->allocate(id));
  auto done = [&]() -> Result<BridgeAttachment> {
    // The bridge exists from the first task's prepare on: the port mappings made next need it.
    BERTH_TRY(auto nl, netlink::Netlink::open());
    BERTH_TRY(int bridge, ensure_bridge(nl));
    (void)bridge;
    BridgeAttachment a = name_files(sandbox_dir);
    a.netns_path = netns_path(id);
    a.address = address;
    return a;
  }();
  if (!done) (void)detach(id);  // the first error is the one to report
  return done;
}

Status BridgeNetwork::wire(const std::string& id, uint32_t address, const std::string& sandbox_dir,
                           const std::string& hostname) {
  BERTH_CHECK_CTX(wire_address(id, address), "veth for " + ipv4_text(address));
  return write_files(sandbox_dir, hostname, address);
}

Status BridgeNetwork::detach(const std::string& id, bool reap) {
  Status first = ok();
  auto keep_first = [&](Status st) {
    if (!st && first) first = std::move(st);
  };
  if (!config_.netns_dir.empty()) keep_first(remove_netns_file(netns_path(id)));
  if (ipam_) keep_first(ipam_->release(id));
  // The host end is deleted by berth, although the kernel deletes the pair with the namespace
  // once its file is unmounted and nothing else holds it: anything that does (a process that
  // entered it, an fd) would keep the veth on the bridge. The address is not handed out again
  // meanwhile: the Ipam goes round its subnet before it reuses one. (The streams that stalled
  // when the kernel was left to it stalled because the bridge's MAC followed its ports; the
  // bridge has its own MAC now, see bridge_mac.)
  if (reap) {
    reaper_.remove(host_veth_name(id));
  } else if (auto nl = netlink::Netlink::open()) {
    keep_first(nl->delete_link(host_veth_name(id)));
  } else {
    keep_first(std::move(nl).error());
  }
  return first;
}

LinkReaper::~LinkReaper() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void LinkReaper::remove(std::string name) {
  std::lock_guard lk(mu_);
  queue_.push_back(std::move(name));
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  cv_.notify_one();
}

void LinkReaper::run() {
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, nothing left
    std::string name = std::move(queue_.front());
    queue_.pop_front();
    lk.unlock();
    Status st = ok();
    if (auto nl = netlink::Netlink::open()) st = nl->delete_link(name);
    else st = std::move(nl).error();
    if (!st) log::warn("delete veth " + name + ": " + st.error().message);
    lk.lock();
  }
}

Status BridgeNetwork::reconcile(const std::set<std::string>& keep) {
  if (config_.ipam_dir.empty() || config_.netns_dir.empty()) return ok();
  BERTH_TRY(Ipam * pool, ipam());
  std::set<std::string> owners;
  for (const auto& [address, owner] : pool->allocations()) owners.insert(owner);
  auto files = fs::list_dir(config_.netns_dir).value_or(std::vector<std::string>{});
  if (files.size() > kMaxNetnsFiles)
    return make_error(Code::kInternal, config_.netns_dir + " holds more than 65536 entries; the scan budget ran out");
  for (const auto& f : files) owners.insert(f);
  Status first = ok();
  for (const auto& id : owners) {
    if (keep.count(id)) continue;
    auto st = detach(id);
    if (!st && first) first = std::move(st);
  }
  // Veths whose namespace file was already gone: by their name.
  BERTH_TRY(auto nl, netlink::Netlink::open());
  BERTH_TRY(auto links, nl.link_names());
  std::set<std::string> kept_veths;
  for (const auto& id : keep) kept_veths.insert(host_veth_name(id));
  for (const auto& name : links) {
    if (name.rfind("bth", 0) != 0 || kept_veths.count(name)) continue;
    auto st = nl.delete_link(name);
    if (!st && first) first = std::move(st);
  }
  return first;
}

bool BridgeNetwork::attached(const std::string& id) const {
  struct stat st {};
  return !config_.netns_dir.empty() && ::stat(netns_path(id).c_str(), &st) == 0;
}

}  // namespace berth::isolators
