#include "isolators/network/nft_table.hpp"

#include <nftables/libnftables.h>

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
  if (mappings.empty() && !config.masquerade) return "";
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

std::string nat_elements_command(bool add, const std::vector<NatMapping>& mappings) {
  std::string out;
  for (const char* proto : {"tcp", "udp"}) {
    std::string e = elements(mappings, proto, add);
    if (!e.empty())
      out += std::string(add ? "add" : "delete") + " element " + kNftTable + " " + proto + "_dnat { " + e + " }\n";
  }
  return out;
}

NftTable::~NftTable() {
  if (ctx_) nft_ctx_free(ctx_);
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

Status NftTable::change(const std::string& commands) {
  if (commands.empty()) return ok();
  BERTH_TRY_CTX(auto out, run(commands), "table " + std::string(kNftTable));
  (void)out;
  return ok();
}

Result<std::string> NftTable::list() {
  auto out = run("list table " + std::string(kNftTable));
  if (!out) return std::string();  // no such table
  return out;
}

}  // namespace berth::isolators
