#include "isolators/network/nft_table.hpp"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <nftables/libnftables.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cstring>

namespace berth::isolators {

namespace {

std::string elements(const std::vector<NatMapping>& mappings, const std::string& protocol, bool with_targets) {
  std::string out;
  for (const auto& m : mappings) {
    if (m.protocol != protocol) continue;
    out += (out.empty() ? "" : ", ") + std::to_string(m.host_port);
    if (with_targets) out += " : " + ipv4_text(m.address) + " . " + std::to_string(m.container_port);
  }
  return out;
}

}  // namespace

std::string nat_ruleset(const NatConfig& config, const std::vector<NatMapping>& mappings) {
  if (mappings.empty() && !config.bridge_up) return "";
  std::string t = "table " + std::string(kNftTable) + " {\n";
  for (const char* proto : {"tcp", "udp"}) {
    std::string e = elements(mappings, proto, true);
    t += "  map " + std::string(proto) + "_dnat {\n    type inet_service : ipv4_addr . inet_service\n";
    if (!e.empty()) t += "    elements = { " + e + " }\n";
    t += "  }\n";
  }
  std::string dnat = "    fib daddr type local dnat ip to tcp dport map @tcp_dnat\n"
                     "    fib daddr type local dnat ip to udp dport map @udp_dnat\n";
  t += "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n" + dnat + "  }\n";
  t += "  chain output {\n    type nat hook output priority -100; policy accept;\n" + dnat + "  }\n";
  t += "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n";
  t += "    ip saddr 127.0.0.0/8 oifname \"" + config.bridge + "\" masquerade\n";
  if (config.masquerade)
    t += "    ip saddr " + config.subnet.text() + " ip daddr != " + config.subnet.text() + " masquerade\n";
  t += "  }\n}\n";
  return t;
}

namespace {

constexpr const char* kTableName = "berth";  // the table's name in kNftTable ("ip berth")

nlmsghdr* put_message(mnl_nlmsg_batch* batch, uint16_t type, uint16_t flags, uint8_t family, uint16_t res_id,
                      uint32_t seq) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(mnl_nlmsg_batch_current(batch));
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | flags;
  nlh->nlmsg_seq = seq;
  auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfg->nfgen_family = family;
  nfg->version = NFNETLINK_V0;
  nfg->res_id = htons(res_id);
  return nlh;
}

// NFTA_DATA_VALUE inside the nest `type`: the kernel's register layout, every field of a
// concatenation padded to 4 bytes.
void put_value(nlmsghdr* nlh, uint16_t type, const void* data, size_t len) {
  nlattr* nest = mnl_attr_nest_start(nlh, type);
  mnl_attr_put(nlh, NFTA_DATA_VALUE, len, data);
  mnl_attr_nest_end(nlh, nest);
}

}  // namespace

std::vector<char> nat_elements_batch(bool add, const std::vector<NatMapping>& mappings, uint32_t seq, size_t* acks) {
  *acks = 0;
  // Begin and end, and per mapping one element: a list entry, its key and its data nests.
  std::vector<char> buf(1024 + mappings.size() * 64);
  mnl_nlmsg_batch* batch = mnl_nlmsg_batch_start(buf.data(), buf.size());
  put_message(batch, NFNL_MSG_BATCH_BEGIN, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES, seq++);
  mnl_nlmsg_batch_next(batch);
  for (const char* proto : {"tcp", "udp"}) {
    bool any = false;
    for (const auto& m : mappings) any = any || m.protocol == proto;
    if (!any) continue;
    uint16_t type = (NFNL_SUBSYS_NFTABLES << 8) | (add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM);
    nlmsghdr* nlh = put_message(batch, type, NLM_F_ACK | (add ? NLM_F_CREATE : 0), NFPROTO_IPV4, 0, seq++);
    mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, kTableName);
    mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, (std::string(proto) + "_dnat").c_str());
    nlattr* elements = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
    for (const auto& m : mappings) {
      if (m.protocol != proto) continue;
      nlattr* element = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
      uint16_t key = htons(m.host_port);
      put_value(nlh, NFTA_SET_ELEM_KEY, &key, sizeof(key));
      if (add) {  // ipv4_addr . inet_service
        unsigned char data[8] = {};
        uint32_t address = htonl(m.address);
        uint16_t port = htons(m.container_port);
        std::memcpy(data, &address, 4);
        std::memcpy(data + 4, &port, 2);
        put_value(nlh, NFTA_SET_ELEM_DATA, data, sizeof(data));
      }
      mnl_attr_nest_end(nlh, element);
    }
    mnl_attr_nest_end(nlh, elements);
    mnl_nlmsg_batch_next(batch);
    ++*acks;
  }
  put_message(batch, NFNL_MSG_BATCH_END, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES, seq);
  mnl_nlmsg_batch_next(batch);
  buf.resize(mnl_nlmsg_batch_size(batch));
  mnl_nlmsg_batch_stop(batch);
  if (*acks == 0) buf.clear();
  return buf;
}

NftTable::~NftTable() {
  if (ctx_) nft_ctx_free(ctx_);
  if (sock_) mnl_socket_close(sock_);
}

Result<std::string> NftTable::run(const std::string& commands) {
  if (!ctx_) {
    ctx_ = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!ctx_) return make_error(Code::kInternal, "nftables: cannot create a libnftables context");
    if (nft_ctx_buffer_output(ctx_) != 0 || nft_ctx_buffer_error(ctx_) != 0)
      return make_error(Code::kInternal, "nftables: cannot buffer libnftables output");
  }
  int rc = nft_run_cmd_from_buffer(ctx_, commands.c_str());
  std::string out = nft_ctx_get_output_buffer(ctx_);
  std::string err = nft_ctx_get_error_buffer(ctx_);
  if (rc != 0)
    return make_error(Code::kInternal, "nftables: " + (err.empty() ? std::string("the kernel refused") : err));
  return out;
}

Status NftTable::replace(const std::string& ruleset) {
  // "add table" first makes the delete valid when there is no table yet; all one transaction.
  std::string t(kNftTable);
  BERTH_TRY_CTX(auto out, run("add table " + t + "\ndelete table " + t + "\n" + ruleset), "table " + t);
  (void)out;
  return ok();
}

Status NftTable::change_elements(bool add, const std::vector<NatMapping>& mappings) {
  const std::string what = std::string(add ? "add" : "delete") + " elements of table " + kNftTable;
  if (!sock_) {
    mnl_socket* s = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
    if (!s) return errno_error("nftables: open a netfilter netlink socket");
    timeval timeout{5, 0};  // the kernel answers at once; never wait for ever
    if (mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0 ||
        ::setsockopt(mnl_socket_get_fd(s), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) != 0) {
      int err = errno;
      mnl_socket_close(s);
      return errno_error(err, "nftables: bind a netfilter netlink socket");
    }
    sock_ = s;
  }
  size_t acks = 0;
  std::vector<char> batch = nat_elements_batch(add, mappings, seq_, &acks);
  seq_ += static_cast<uint32_t>(acks) + 2;
  if (acks == 0) return ok();
  if (mnl_socket_sendto(sock_, batch.data(), batch.size()) < 0) return errno_error("nftables: " + what);
  // One answer per message that asked for an ack: an ack, or the error that aborted the batch.
  Status first = ok();
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  const unsigned portid = mnl_socket_get_portid(sock_);
  while (acks > 0) {
    ssize_t n = mnl_socket_recvfrom(sock_, buf.data(), buf.size());
    if (n < 0) {
      // A lost answer leaves this socket's replies out of step: the next change opens another.
      int err = errno;
      mnl_socket_close(sock_);
      sock_ = nullptr;
      return errno_error(err, "nftables: " + what + ": no answer from the kernel");
    }
    int len = static_cast<int>(n);
    for (auto* nlh = reinterpret_cast<nlmsghdr*>(buf.data()); mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
      if (nlh->nlmsg_type != NLMSG_ERROR || nlh->nlmsg_pid != portid) continue;
      --acks;
      const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
      if (err->error != 0 && first) first = errno_error(-err->error, "nftables: " + what);
      if (acks == 0) break;
    }
  }
  return first;
}

Result<std::string> NftTable::list() {
  auto out = run("list table " + std::string(kNftTable));
  if (!out) return std::string();  // no such table
  return out;
}

}  // namespace berth::isolators
