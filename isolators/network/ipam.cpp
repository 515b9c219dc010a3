#include "isolators/network/ipam.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <charconv>

#include "common/fs.hpp"

namespace berth::isolators {

std::string ipv4_text(uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 0xff) + "." + std::to_string((a >> 8) & 0xff) +
         "." + std::to_string(a & 0xff);
}

std::string Ipv4Subnet::text() const { return ipv4_text(network) + "/" + std::to_string(prefix); }

Result<uint32_t> parse_ipv4(std::string_view text) {
  struct in_addr a {};
  std::string s(text);
  if (::inet_pton(AF_INET, s.c_str(), &a) != 1)
    return make_error(Code::kInvalidArgument, "'" + s + "' is not an IPv4 address");
  return ntohl(a.s_addr);
}

Result<Ipv4Subnet> parse_subnet(std::string_view text, std::string_view field) {
  auto bad = [&](const std::string& why) {
    return make_error(Code::kInvalidArgument, "field '" + std::string(field) + "': '" + std::string(text) + "' " +
                                                  why + "; write e.g. \"10.88.0.0/16\"");
  };
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) return bad("has no /prefix");
  auto address = parse_ipv4(text.substr(0, slash));
  if (!address) return bad("is not an IPv4 network");
  int prefix = -1;
  auto p = text.substr(slash + 1);
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
  if (ec != std::errc() || end != p.data() + p.size() || prefix < 16 || prefix > 30)
    return bad("needs a prefix from /16 to /30");
  Ipv4Subnet s{*address, prefix};
  if ((s.network & (s.size() - 1)) != 0) return bad("has host bits set (give the network address)");
  return s;
}

Result<Ipam> Ipam::open(const std::string& dir, Ipv4Subnet subnet) {
  BERTH_CHECK_CTX(fs::mkdir_p(dir, 0700), "ipam");
  BERTH_TRY_CTX(UniqueFd fd, fs::open_dir(dir), "ipam");
  Ipam ipam(std::move(fd), subnet);
  BERTH_TRY_CTX(auto names, fs::list_dir(dir), "ipam: list " + dir);
  // Bounded: at most one file per address of a /16 is ours; anything else is dropped.
  for (const auto& name : names) {
    auto address = parse_ipv4(name);
    bool ours = address && subnet.contains(*address) && *address != subnet.network &&
                *address != subnet.gateway() && *address != subnet.network + subnet.size() - 1;
    auto owner = ours ? fs::read_file_at(ipam.dir_.get(), name) : Result<std::string>(std::string());
    if (!ours || !owner || owner->empty()) {
      if (::unlinkat(ipam.dir_.get(), name.c_str(), 0) != 0 && errno != ENOENT)
        return errno_error("ipam: remove stray " + dir + "/" + name);
      continue;
    }
    ipam.by_address_[*address] = *owner;
  }
  return ipam;
}

Result<uint32_t> Ipam::allocate(const std::string& owner) {
  const uint32_t hosts = subnet_.size() - 3;  // not the network, gateway or broadcast address
  for (uint32_t tried = 0; tried < hosts; ++tried) {
    uint32_t address = subnet_.gateway() + 1 + (next_ + tried) % hosts;
    if (by_address_.count(address)) continue;
    std::string name = ipv4_text(address);
    int fd = ::openat(dir_.get(), name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) continue;  // someone else's, not read yet: never shared
    if (fd < 0) return errno_error("ipam: create " + name);
    UniqueFd file = UniqueFd::adopt(fd);
    // No fsync: the record has to outlive berthd, not the machine; after a reboot no task holds
    // an address and recovery drops every record anyway.
    auto written = fs::write_all(file.get(), owner.data(), owner.size());
    if (!written) {
      (void)::unlinkat(dir_.get(), name.c_str(), 0);
      return std::move(written).error().wrap("ipam: record " + name);
    }
    by_address_[address] = owner;
    next_ = (next_ + tried + 1) % hosts;
    return address;
  }
  return make_error(Code::kFailedPrecondition, "the bridge subnet " + subnet_.text() + " is exhausted (" +
                                                   std::to_string(by_address_.size()) +
                                                   " addresses in use); end a bridge task or give the network "
                                                   "a larger subnet");
}

Status Ipam::remove(uint32_t address) {
  std::string name = ipv4_text(address);
  if (::unlinkat(dir_.get(), name.c_str(), 0) != 0 && errno != ENOENT) return errno_error("ipam: remove " + name);
  by_address_.erase(address);
  return ok();
}

Status Ipam::release(const std::string& owner) {
  return retain_only_if([&](const std::string& o) { return o != owner; });
}

Status Ipam::retain_only(const std::set<std::string>& owners) {
  return retain_only_if([&](const std::string& o) { return owners.count(o) != 0; });
}

}  // namespace berth::isolators
