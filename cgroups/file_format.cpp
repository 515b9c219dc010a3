#include "cgroups/file_format.hpp"

#include <charconv>

namespace berth::cgroups {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

}  // namespace

Result<uint64_t> parse_u64(std::string_view text) {
  std::string_view s = trim(text);
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size())
    return make_error(Code::kInternal, "not an unsigned integer: '" + std::string(s) + "'");
  return v;
}

Result<Limit> parse_limit(std::string_view text) {
  if (trim(text) == "max") return Limit{};
  BERTH_TRY(uint64_t v, parse_u64(text));
  return Limit{v};
}

std::string format_limit(const Limit& limit) {
  return limit ? std::to_string(*limit) : std::string("max");
}

Result<std::map<std::string, uint64_t>> parse_flat_keyed(std::string_view text) {
  std::map<std::string, uint64_t> out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    line = trim(line);
    if (line.empty()) continue;
    size_t sp = line.find(' ');
    if (sp == std::string_view::npos)
      return make_error(Code::kInternal, "malformed line '" + std::string(line) + "'");
    BERTH_TRY_CTX(uint64_t v, parse_u64(line.substr(sp + 1)),
                  "key '" + std::string(line.substr(0, sp)) + "'");
    out[std::string(line.substr(0, sp))] = v;
  }
  return out;
}

std::optional<uint64_t> find_key(const std::map<std::string, uint64_t>& keyed,
                                 const std::string& key) {
  auto it = keyed.find(key);
  if (it == keyed.end()) return std::nullopt;
  return it->second;
}

}  // namespace berth::cgroups
