#include "isolators/network/netlink.hpp"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>

#include <cstring>
#include <memory>
#include <thread>
#include <vector>

namespace berth::isolators::netlink {
namespace {

constexpr size_t kLinkDumpBudget = 4096;
constexpr size_t kBufferSize = 8192;  // MNL_SOCKET_BUFFER_SIZE for 4 KiB pages (a runtime value)

// A request buffer: one page is plenty for any message built here.
struct Message {
  alignas(nlmsghdr) char buf[kBufferSize];
  nlmsghdr* nlh;
  Message(uint16_t type, uint16_t flags) {
    std::memset(buf, 0, sizeof(buf));
    nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  }
  ifinfomsg* link(int index = 0) {
    auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
    ifm->ifi_family = AF_UNSPEC;
    ifm->ifi_index = index;
    return ifm;
  }
  void up(int index) {
    ifinfomsg* ifm = link(index);
    ifm->ifi_flags = IFF_UP;
    ifm->ifi_change = IFF_UP;
  }
  void address(int index, uint32_t address, int prefix) {
    auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
    ifa->ifa_family = AF_INET;
    ifa->ifa_prefixlen = static_cast<uint8_t>(prefix);
    ifa->ifa_index = static_cast<uint32_t>(index);
    uint32_t net = htonl(address);
    mnl_attr_put_u32(nlh, IFA_LOCAL, net);
    mnl_attr_put_u32(nlh, IFA_ADDRESS, net);
  }
  void default_route(uint32_t gateway) {
    auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
    rtm->rtm_family = AF_INET;
    rtm->rtm_table = RT_TABLE_MAIN;
    rtm->rtm_protocol = RTPROT_BOOT;
    rtm->rtm_scope = RT_SCOPE_UNIVERSE;
    rtm->rtm_type = RTN_UNICAST;
    mnl_attr_put_u32(nlh, RTA_GATEWAY, htonl(gateway));
  }
  // A new link `name` of `kind`; returns the open IFLA_LINKINFO nest (the caller ends it).
  nlattr* new_link(const std::string& name, uint32_t mtu, const char* kind) {
    link();
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name.c_str());
    mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
    nlattr* info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, kind);
    return info;
  }
};

Result<mnl_socket*> open_socket() {
  mnl_socket* s = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
  if (!s) return errno_error("netlink: open");
  if (mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0) {
    int err = errno;
    mnl_socket_close(s);
    return errno_error(err, "netlink: bind");
  }
  return s;
}

// Runs the replies to request `seq` through `cb` until its ack (or NLMSG_DONE of a dump).
Status run_replies(mnl_socket* s, uint32_t seq, mnl_cb_t cb, void* data, const std::string& what) {
  std::vector<char> buf(kBufferSize);
  const unsigned portid = mnl_socket_get_portid(s);
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(s, buf.data(), buf.size());
    if (n < 0) return errno_error("netlink: " + what);
    int ret = mnl_cb_run(buf.data(), static_cast<size_t>(n), seq, portid, cb, data);
    if (ret < 0) return errno_error("netlink: " + what);
    if (ret == MNL_CB_STOP) return ok();
  }
}

int collect_name(const nlmsghdr* nlh, void* data) {
  auto* names = static_cast<std::vector<std::string>*>(data);
  if (names->size() >= kLinkDumpBudget) return MNL_CB_ERROR;
  auto take_name = [](const nlattr* attr, void* out) -> int {
    if (mnl_attr_get_type(attr) == IFLA_IFNAME)
      static_cast<std::vector<std::string>*>(out)->emplace_back(mnl_attr_get_str(attr));
    return MNL_CB_OK;
  };
  return mnl_attr_parse(nlh, sizeof(ifinfomsg), take_name, names);
}

int take_index(const nlmsghdr* nlh, void* data) {
  *static_cast<int*>(data) = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh))->ifi_index;
  return MNL_CB_OK;
}

}  // namespace

Netlink::Netlink(mnl_socket* s) : sock_(s) {}
Netlink::Netlink(Netlink&& o) noexcept : sock_(o.sock_), seq_(o.seq_) { o.sock_ = nullptr; }
Netlink& Netlink::operator=(Netlink&& o) noexcept {
  std::swap(sock_, o.sock_);
  std::swap(seq_, o.seq_);
  return *this;
}
Netlink::~Netlink() {
  if (sock_) mnl_socket_close(sock_);
}

Result<Netlink> Netlink::open() {
  BERTH_TRY(mnl_socket * s, open_socket());
  return Netlink(s);
}

Result<Netlink> Netlink::open_in(int netns_fd) {
  // A socket stays in the namespace it was made in: make it from a thread that joined the
  // target and then ends, so no long-lived thread of berthd changes namespace.
  Result<mnl_socket*> made = make_error(Code::kInternal, "netlink: no socket");
  std::thread([&] {
    if (::setns(netns_fd, CLONE_NEWNET) != 0) {
      made = errno_error("netlink: join the task's network namespace");
      return;
    }
    made = open_socket();
  }).join();
  BERTH_TRY(mnl_socket * s, std::move(made));
  return Netlink(s);
}

Status Netlink::request(void* buf, const std::string& what) {
  auto* nlh = static_cast<nlmsghdr*>(buf);
  nlh->nlmsg_seq = seq_++;
  if (mnl_socket_sendto(sock_, nlh, nlh->nlmsg_len) < 0) return errno_error("netlink: " + what);
  return run_replies(sock_, nlh->nlmsg_seq, nullptr, nullptr, what);
}

Status Netlink::request_all(const std::vector<Pending>& requests) {
  std::vector<char> out;
  for (const auto& r : requests) {
    r.nlh->nlmsg_seq = seq_++;
    const char* bytes = reinterpret_cast<const char*>(r.nlh);
    out.insert(out.end(), bytes, bytes + NLMSG_ALIGN(r.nlh->nlmsg_len));
  }
  if (mnl_socket_sendto(sock_, out.data(), out.size()) < 0)
    return errno_error("netlink: " + (requests.empty() ? std::string("nothing") : requests.front().what));
  // The kernel runs them in order and acks each, a failed one too: every ack is read, so the
  // socket stays in step.
  Status first = ok();
  for (const auto& r : requests) {
    auto st = run_replies(sock_, r.nlh->nlmsg_seq, nullptr, nullptr, r.what);
    if (!st && first) first = std::move(st);
  }
  return first;
}

Status Netlink::send(nlmsghdr* nlh, const std::string& what) { return request(nlh, what); }

Status Netlink::query(nlmsghdr* nlh, ReplyCallback cb, void* data, const std::string& what) {
  nlh->nlmsg_seq = seq_++;
  if (mnl_socket_sendto(sock_, nlh, nlh->nlmsg_len) < 0) return errno_error("netlink: " + what);
  return run_replies(sock_, nlh->nlmsg_seq, cb, data, what);
}

Result<std::optional<int>> Netlink::link_index(const std::string& name) {
  Message m(RTM_GETLINK, 0);
  m.link();
  mnl_attr_put_strz(m.nlh, IFLA_IFNAME, name.c_str());
  m.nlh->nlmsg_seq = seq_++;
  if (mnl_socket_sendto(sock_, m.nlh, m.nlh->nlmsg_len) < 0) return errno_error("netlink: get link " + name);
  int index = 0;
  auto st = run_replies(sock_, m.nlh->nlmsg_seq, take_index, &index, "get link " + name);
  if (!st && st.error().sys_errno == ENODEV) return std::optional<int>();
  BERTH_CHECK(std::move(st));
  return std::optional<int>(index);
}

Status Netlink::add_bridge(const std::string& name, uint32_t mtu, const std::array<uint8_t, 6>& mac) {
  Message m(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  nlattr* info = m.new_link(name, mtu, "bridge");
  mnl_attr_nest_end(m.nlh, info);
  mnl_attr_put(m.nlh, IFLA_ADDRESS, mac.size(), mac.data());
  auto st = request(m.buf, "add bridge " + name);
  if (!st && st.error().sys_errno == EEXIST) return make_error(Code::kAlreadyExists, "netlink: link " + name + " exists");
  return st;
}

Status Netlink::add_veth(const std::string& name, const std::string& peer, uint32_t mtu, int peer_netns_fd,
                         int master_index) {
  Message m(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  nlattr* info = m.new_link(name, mtu, "veth");
  auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_get_payload(m.nlh));
  ifm->ifi_flags = ifm->ifi_change = IFF_UP;
  nlattr* data = mnl_attr_nest_start(m.nlh, IFLA_INFO_DATA);
  nlattr* peer_attr = mnl_attr_nest_start(m.nlh, VETH_INFO_PEER);
  // The peer's ifinfomsg sits inside the nest, before its attributes.
  auto* peer_ifm = static_cast<ifinfomsg*>(mnl_nlmsg_get_payload_tail(m.nlh));
  std::memset(peer_ifm, 0, sizeof(ifinfomsg));
  m.nlh->nlmsg_len += MNL_ALIGN(sizeof(ifinfomsg));
  mnl_attr_put_strz(m.nlh, IFLA_IFNAME, peer.c_str());
  mnl_attr_put_u32(m.nlh, IFLA_MTU, mtu);
  mnl_attr_put_u32(m.nlh, IFLA_NET_NS_FD, static_cast<uint32_t>(peer_netns_fd));
  mnl_attr_nest_end(m.nlh, peer_attr);
  mnl_attr_nest_end(m.nlh, data);
  mnl_attr_nest_end(m.nlh, info);
  mnl_attr_put_u32(m.nlh, IFLA_MASTER, static_cast<uint32_t>(master_index));
  return request(m.buf, "add veth " + name);
}

Status Netlink::set_master(int index, int master_index) {
  Message m(RTM_NEWLINK, 0);
  m.link(index);
  mnl_attr_put_u32(m.nlh, IFLA_MASTER, static_cast<uint32_t>(master_index));
  return request(m.buf, "attach link " + std::to_string(index) + " to its bridge");
}

Status Netlink::set_up(int index) {
  Message m(RTM_NEWLINK, 0);
  m.up(index);
  return request(m.buf, "bring link " + std::to_string(index) + " up");
}

Status Netlink::rename(int index, const std::string& name) {
  Message m(RTM_NEWLINK, 0);
  m.link(index);
  mnl_attr_put_strz(m.nlh, IFLA_IFNAME, name.c_str());
  return request(m.buf, "rename link " + std::to_string(index) + " to " + name);
}

Status Netlink::add_address(int index, uint32_t address, int prefix) {
  Message m(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
  m.address(index, address, prefix);
  return request(m.buf, "add address to link " + std::to_string(index));
}

Status Netlink::set_up_task_side(int index, uint32_t address, int prefix, uint32_t gateway) {
  constexpr int kLoopbackIndex = 1;  // the kernel's LOOPBACK_IFINDEX, in every namespace
  auto lo = std::make_unique<Message>(RTM_NEWLINK, 0);
  lo->up(kLoopbackIndex);
  auto addr = std::make_unique<Message>(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
  addr->address(index, address, prefix);
  auto up = std::make_unique<Message>(RTM_NEWLINK, 0);
  up->up(index);
  auto route = std::make_unique<Message>(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
  route->default_route(gateway);
  const std::string link = "link " + std::to_string(index);
  return request_all({{lo->nlh, "bring loopback up"},
                      {addr->nlh, "add address to " + link},
                      {up->nlh, "bring " + link + " up"},
                      {route->nlh, "add the default route"}});
}

Status Netlink::delete_link(const std::string& name) {
  Message m(RTM_DELLINK, 0);
  m.link();
  mnl_attr_put_strz(m.nlh, IFLA_IFNAME, name.c_str());
  auto st = request(m.buf, "delete link " + name);
  if (!st && st.error().sys_errno == ENODEV) return ok();
  return st;
}

Result<std::vector<std::string>> Netlink::link_names() {
  Message m(RTM_GETLINK, NLM_F_DUMP);
  m.nlh->nlmsg_flags &= ~NLM_F_ACK;
  m.link();
  m.nlh->nlmsg_seq = seq_++;
  if (mnl_socket_sendto(sock_, m.nlh, m.nlh->nlmsg_len) < 0) return errno_error("netlink: list links");
  std::vector<std::string> names;
  auto st = run_replies(sock_, m.nlh->nlmsg_seq, collect_name, &names, "list links");
  if (!st && names.size() >= kLinkDumpBudget)
    return make_error(Code::kInternal, "netlink: more than 4096 links; the dump budget ran out");
  BERTH_CHECK(std::move(st));
  return names;
}

}  // namespace berth::isolators::netlink
