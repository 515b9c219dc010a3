#include "isolators/network/nft_table.hpp"

#include <nftables/libnftables.h>

namespace berth::isolators {

std::string nat_ruleset(const NatConfig& config, const std::vector<NatMapping>& mappings) {
  if (mappings.empty() && !config.masquerade) return "";
  std::string dnat;
  for (const auto& m : mappings)
    dnat += "    fib daddr type local " + m.protocol + " dport " + std::to_string(m.host_port) + " dnat to " +
            ipv4_text(m.address) + ":" + std::to_string(m.container_port) + "\n";
  std::string t = "table " + std::string(kNftTable) + " {\n";
  t += "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n" + dnat + "  }\n";
  t += "  chain output {\n    type nat hook output priority -100; policy accept;\n" + dnat + "  }\n";
  t += "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n";
  t += "    ip saddr 127.0.0.0/8 oifname \"" + config.bridge + "\" masquerade\n";
  if (config.masquerade)
    t += "    ip saddr " + config.subnet.text() + " ip daddr != " + config.subnet.text() + " masquerade\n";
  t += "  }\n}\n";
  return t;
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

Result<std::string> NftTable::list() {
  auto out = run("list table " + std::string(kNftTable));
  if (!out) return std::string();  // no such table
  return out;
}

}  // namespace berth::isolators
