#include "agent/api/router.hpp"

#include <algorithm>

#include "common/fs.hpp"

namespace berth::api {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_param(const std::string& seg) {
  return seg.size() >= 2 && seg.front() == '{' && seg.back() == '}';
}

// One bit per segment, literal = 1, leftmost segment most significant: comparing two ranks
// prefers the pattern whose first literal comes earlier.
std::vector<int> rank(const std::vector<std::string>& segs) {
  std::vector<int> r;
  r.reserve(segs.size());
  for (const auto& s : segs) r.push_back(is_param(s) ? 0 : 1);
  return r;
}

}  // namespace

std::string percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
  return out;
}

std::vector<std::string> split_path(std::string_view raw_path) {
  // Split before decoding: an encoded "%2F" stays inside its segment.
  auto out = fs::split_path(raw_path);
  for (auto& seg : out) seg = percent_decode(seg, false);
  return out;
}

size_t Router::add(const std::string& method, const std::string& pattern) {
  auto segs = fs::split_path(pattern);
  routes_.push_back(Route{method, std::move(segs)});
  return routes_.size() - 1;
}

Router::Outcome Router::match(const std::string& method,
                              const std::vector<std::string>& segments) const {
  Outcome out;
  std::vector<int> best_rank;
  for (size_t i = 0; i < routes_.size(); ++i) {
    const Route& r = routes_[i];
    if (r.segments.size() != segments.size()) continue;
    Match m{i, {}};
    bool fits = true;
    for (size_t k = 0; k < segments.size() && fits; ++k) {
      if (is_param(r.segments[k])) {
        if (segments[k].empty()) fits = false;
        else m.params[r.segments[k].substr(1, r.segments[k].size() - 2)] = segments[k];
      } else if (r.segments[k] != segments[k]) {
        fits = false;
      }
    }
    if (!fits) continue;
    if (r.method != method) {
      if (std::find(out.allowed.begin(), out.allowed.end(), r.method) == out.allowed.end())
        out.allowed.push_back(r.method);
      continue;
    }
    auto rk = rank(r.segments);
    if (!out.match || rk > best_rank) {
      out.match = std::move(m);
      best_rank = std::move(rk);
    }
  }
  if (out.match) out.allowed.clear();
  return out;
}

}  // namespace berth::api
