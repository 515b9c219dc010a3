#include "fetcher/reference.hpp"

#include <cctype>
#include <string>

#include "fetcher/digest.hpp"

namespace berth::fetcher {
namespace {

constexpr size_t kMaxNameLength = 255;
constexpr size_t kMaxTagLength = 128;

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool is_alnum(char c) { return is_lower_alnum(c) || (c >= 'A' && c <= 'Z'); }

Error bad(std::string_view text, const std::string& why) {
  return make_error(Code::kInvalidArgument, "invalid image reference '" + std::string(text) + "': " + why);
}

// path-component := [a-z0-9]+ (separator [a-z0-9]+)*,  separator := '.' | '_' | '__' | '-'+
bool valid_path_component(std::string_view c) {
  if (c.empty() || !is_lower_alnum(c.front()) || !is_lower_alnum(c.back())) return false;
  for (size_t i = 0; i < c.size();) {
    if (is_lower_alnum(c[i])) { ++i; continue; }
    size_t j = i;
    if (c[i] == '.') {
      j = i + 1;
    } else if (c[i] == '_') {
      j = i + 1;
      if (j < c.size() && c[j] == '_') ++j;
    } else if (c[i] == '-') {
      while (j < c.size() && c[j] == '-') ++j;
    } else {
      return false;
    }
    if (j >= c.size() || !is_lower_alnum(c[j])) return false;
    i = j;
  }
  return true;
}

// host := label ('.' label)* [':' port], label := alnum ([alnum-]* alnum)?; or [ipv6]:port.
bool valid_host(std::string_view h) {
  if (h.empty()) return false;
  std::string_view host = h, port;
  if (h.front() == '[') {
    auto close = h.find(']');
    if (close == std::string_view::npos) return false;
    for (char c : h.substr(1, close - 1))
      if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.')) return false;
    std::string_view rest = h.substr(close + 1);
    if (rest.empty()) return true;
    if (rest.front() != ':') return false;
    port = rest.substr(1);
    host = {};
  } else {
    auto colon = h.rfind(':');
    if (colon != std::string_view::npos) {
      port = h.substr(colon + 1);
      host = h.substr(0, colon);
      if (port.empty()) return false;
    }
  }
  if (!port.empty() || (h.find(':') != std::string_view::npos && h.front() != '[')) {
    if (port.empty() || port.size() > 5) return false;
    for (char c : port)
      if (c < '0' || c > '9') return false;
    if (std::stoul(std::string(port)) > 65535) return false;
  }
  size_t start = 0;
  while (start <= host.size() && !host.empty()) {
    size_t dot = host.find('.', start);
    std::string_view label = host.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || !is_alnum(label.front()) || !is_alnum(label.back())) return false;
    for (char c : label)
      if (!is_alnum(c) && c != '-') return false;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

bool valid_tag(std::string_view t) {
  if (t.empty() || t.size() > kMaxTagLength) return false;
  if (!(is_alnum(t.front()) || t.front() == '_')) return false;
  for (char c : t)
    if (!(is_alnum(c) || c == '_' || c == '.' || c == '-')) return false;
  return true;
}

}  // namespace

std::string Reference::str() const {
  std::string s = name() + ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

Result<Reference> parse_reference(std::string_view text) {
  if (text.empty()) return bad(text, "empty");
  for (char c : text)
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return bad(text, "contains whitespace or a control character");
  Reference ref;
  std::string_view rest = text;

  auto at = rest.find('@');
  if (at != std::string_view::npos) {
    auto d = Digest::parse(rest.substr(at + 1));
    if (!d) return bad(text, d.error().message);
    ref.digest = d->str();
    rest = rest.substr(0, at);
  }

  auto slash = rest.find('/');
  if (slash == std::string_view::npos)
    return bad(text, "no registry host; write it as host[:port]/path[:tag] (berth has no default registry)");
  std::string_view host = rest.substr(0, slash);
  if (host.find('.') == std::string_view::npos && host.find(':') == std::string_view::npos &&
      host != "localhost" && host.front() != '[')
    return bad(text, "first component '" + std::string(host) +
                         "' is not a registry host (needs a '.', a ':port' or 'localhost'); "
                         "berth has no default registry");
  if (!valid_host(host)) return bad(text, "registry host '" + std::string(host) + "' is not a valid host[:port]");
  ref.registry = std::string(host);
  rest = rest.substr(slash + 1);

  // A ':' after the last '/' starts the tag (a ':' before it belongs to the host, handled above).
  auto last_slash = rest.rfind('/');
  auto colon = rest.find(':', last_slash == std::string_view::npos ? 0 : last_slash);
  if (colon != std::string_view::npos) {
    std::string_view tag = rest.substr(colon + 1);
    if (!valid_tag(tag))
      return bad(text, "tag '" + std::string(tag) + "' must be 1-128 of [A-Za-z0-9_.-], not starting with '.' or '-'");
    ref.tag = std::string(tag);
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) return bad(text, "no repository path after the registry host");
  size_t start = 0;
  for (;;) {
    size_t s = rest.find('/', start);
    std::string_view comp = rest.substr(start, s == std::string_view::npos ? std::string_view::npos : s - start);
    if (!valid_path_component(comp))
      return bad(text, "path component '" + std::string(comp) +
                           "' must be lowercase letters and digits, joined by '.', '_', '__' or '-'");
    if (s == std::string_view::npos) break;
    start = s + 1;
  }
  ref.repository = std::string(rest);
  if (ref.registry.size() + 1 + ref.repository.size() > kMaxNameLength)
    return bad(text, "name longer than 255 characters");
  if (ref.tag.empty()) ref.tag = "latest";
  return ref;
}

}  // namespace berth::fetcher
