#include "isolators/network/port_allocator.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <sstream>

#include "common/fs.hpp"
#include "isolators/network/ipam.hpp"

namespace berth::isolators {
namespace {

constexpr size_t kMaxRecords = 2 * 65536;  // one per port and protocol

std::string file_name(const std::string& protocol, uint16_t port) { return protocol + "-" + std::to_string(port); }

std::optional<uint64_t> parse_number(std::string_view s) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// "<protocol>-<port>" holding "owner\nname\ncontainer_port\naddress\n".
std::optional<PortRecord> parse_record(const std::string& name, const std::string& text) {
  size_t dash = name.find('-');
  if (dash == std::string::npos) return std::nullopt;
  PortRecord r;
  r.port.protocol = name.substr(0, dash);
  auto host = parse_number(std::string_view(name).substr(dash + 1));
  if ((r.port.protocol != "tcp" && r.port.protocol != "udp") || !host || *host == 0 || *host > 65535)
    return std::nullopt;
  r.port.host_port = static_cast<uint16_t>(*host);
  std::istringstream in(text);
  std::string container, address;
  if (!std::getline(in, r.owner) || !std::getline(in, r.port.name) || !std::getline(in, container) ||
      !std::getline(in, address) || r.owner.empty())
    return std::nullopt;
  auto c = parse_number(container);
  auto a = parse_number(address);
  if (!c || *c == 0 || *c > 65535 || !a || *a > 0xffffffffu) return std::nullopt;
  r.port.container_port = static_cast<uint16_t>(*c);
  r.address = static_cast<uint32_t>(*a);
  return r;
}

}  // namespace

Result<PortRange> parse_port_range(std::string_view text, std::string_view field) {
  size_t dash = text.find('-');
  auto first = dash == std::string_view::npos ? std::nullopt : parse_number(text.substr(0, dash));
  auto last = dash == std::string_view::npos ? std::nullopt : parse_number(text.substr(dash + 1));
  if (!first || !last || *first == 0 || *last > 65535 || *first > *last)
    return make_error(Code::kInvalidArgument, "field '" + std::string(field) + "': '" + std::string(text) +
                                                  "' is not a port range; write first-last with 1 <= first <= "
                                                  "last <= 65535, e.g. \"20000-32767\"");
  return PortRange{static_cast<uint16_t>(*first), static_cast<uint16_t>(*last)};
}

Result<PortAllocator> PortAllocator::open(const std::string& dir, PortRange range) {
  BERTH_CHECK_CTX(fs::mkdir_p(dir, 0700), "ports");
  BERTH_TRY_CTX(UniqueFd fd, fs::open_dir(dir), "ports");
  PortAllocator a(std::move(fd), range);
  BERTH_TRY_CTX(auto names, fs::list_dir(dir), "ports: list " + dir);
  if (names.size() > kMaxRecords)
    return make_error(Code::kInternal, dir + " holds more than " + std::to_string(kMaxRecords) +
                                           " entries; the scan budget ran out");
  // A file that is not a whole record (a crash while writing, a stray) is dropped; a changed
  // range keeps reservations outside it until their task ends.
  for (const auto& name : names) {
    auto text = fs::read_file_at(a.dir_.get(), name);
    auto rec = text ? parse_record(name, text->substr(0, 4096)) : std::nullopt;
    if (!rec) {
      if (::unlinkat(a.dir_.get(), name.c_str(), 0) != 0 && errno != ENOENT)
        return errno_error("ports: remove stray " + dir + "/" + name);
      continue;
    }
    a.records_[{rec->port.protocol, rec->port.host_port}] = std::move(*rec);
  }
  return a;
}

Result<bool> PortAllocator::create(const PortRecord& r) {
  std::string name = file_name(r.port.protocol, r.port.host_port);
  int fd = ::openat(dir_.get(), name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 && errno == EEXIST) return false;
  if (fd < 0) return errno_error("ports: create " + name);
  UniqueFd file = UniqueFd::adopt(fd);
  std::string text = r.owner + "\n" + r.port.name + "\n" + std::to_string(r.port.container_port) + "\n" +
                     std::to_string(r.address) + "\n";
  auto written = fs::write_all(file.get(), text.data(), text.size());
  if (written && ::fsync(file.get()) != 0) written = errno_error("ports: fsync " + name);
  if (!written) {
    (void)::unlinkat(dir_.get(), name.c_str(), 0);
    return std::move(written).error().wrap("ports: record " + name);
  }
  records_[{r.port.protocol, r.port.host_port}] = r;
  return true;
}

Result<uint16_t> PortAllocator::take(const PortRecord& want) {
  PortRecord r = want;
  if (r.port.host_port != 0) {
    if (!range_.contains(r.port.host_port))
      return make_error(Code::kInvalidArgument, "host port " + std::to_string(r.port.host_port) +
                                                    " is outside this node's port range " + range_.text() +
                                                    "; ask for one inside it or for 0 (any)");
    auto it = records_.find({r.port.protocol, r.port.host_port});
    std::string holder = it == records_.end() ? "another task" : "task " + it->second.owner;
    BERTH_TRY(bool fresh, it == records_.end() ? create(r) : Result<bool>(false));
    if (!fresh)
      return make_error(Code::kAlreadyExists, "host port " + std::to_string(r.port.host_port) + "/" +
                                                  r.port.protocol + " is taken by " + holder +
                                                  "; ask for another or for 0 (any free one)");
    return r.port.host_port;
  }
  for (uint32_t tried = 0; tried < range_.size(); ++tried) {
    r.port.host_port = static_cast<uint16_t>(range_.first + (next_ + tried) % range_.size());
    if (records_.count({r.port.protocol, r.port.host_port})) continue;
    BERTH_TRY(bool fresh, create(r));
    if (!fresh) continue;  // someone else's, not read yet: never shared
    next_ = (next_ + tried + 1) % range_.size();
    return r.port.host_port;
  }
  return make_error(Code::kFailedPrecondition, "every " + r.port.protocol + " port of this node's range " +
                                                   range_.text() + " is taken; end a task with ports or widen "
                                                   "network.ports.range");
}

Result<std::vector<PortSpec>> PortAllocator::reserve(const std::string& owner, std::vector<PortSpec> ports,
                                                     uint32_t address) {
  std::vector<std::pair<std::string, uint16_t>> taken;
  for (auto& p : ports) {
    auto port = take(PortRecord{owner, p, address});
    if (!port) {
      for (const auto& key : taken) (void)remove(key);
      return std::move(port).error().wrap("port '" + p.name + "'");
    }
    p.host_port = *port;
    taken.push_back({p.protocol, *port});
  }
  return ports;
}

Status PortAllocator::remove(const std::pair<std::string, uint16_t>& key) {
  std::string name = file_name(key.first, key.second);
  if (::unlinkat(dir_.get(), name.c_str(), 0) != 0 && errno != ENOENT) return errno_error("ports: remove " + name);
  records_.erase(key);
  return ok();
}

Status PortAllocator::retain_only(const std::set<std::string>& owners) {
  return drop_if([&](const std::string& o) { return owners.count(o) == 0; });
}

Status PortAllocator::release(const std::string& owner) {
  return drop_if([&](const std::string& o) { return o == owner; });
}

std::vector<PortSpec> PortAllocator::ports_of(const std::string& owner) const {
  std::vector<PortSpec> out;
  for (const auto& [key, r] : records_)
    if (r.owner == owner) out.push_back(r.port);
  return out;
}

}  // namespace berth::isolators
