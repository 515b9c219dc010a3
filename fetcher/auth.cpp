#include "fetcher/auth.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>

#include "common/json.hpp"

namespace berth::fetcher {
namespace {

bool is_tchar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

struct Lexer {
  std::string_view s;
  size_t i = 0;
  void skip_ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  }
  std::string token() {
    size_t start = i;
    while (i < s.size() && is_tchar(s[i])) ++i;
    return std::string(s.substr(start, i - start));
  }
  bool eof() const { return i >= s.size(); }
  char peek() const { return eof() ? '\0' : s[i]; }
};

Error bad(const std::string& why) { return make_error(Code::kInvalidArgument, "malformed WWW-Authenticate: " + why); }

}  // namespace

std::string basic_authorization(std::string_view username, std::string_view password) {
  std::string plain = std::string(username) + ":" + std::string(password);
  std::string out(4 * ((plain.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(plain.data()), static_cast<int>(plain.size()));
  out.resize(static_cast<size_t>(n));
  return "Authorization: Basic " + out;
}

Result<std::vector<Challenge>> parse_challenges(std::string_view header) {
  std::vector<Challenge> out;
  Lexer lx{header};
  for (;;) {
    lx.skip_ws();
    while (lx.peek() == ',') { ++lx.i; lx.skip_ws(); }
    if (lx.eof()) break;
    std::string scheme = lx.token();
    if (scheme.empty()) return bad("expected an auth scheme at offset " + std::to_string(lx.i));
    Challenge c{lower(scheme), {}};
    // auth-params until the next scheme (a token not followed by '=').
    for (;;) {
      lx.skip_ws();
      size_t save = lx.i;
      std::string name = lx.token();
      lx.skip_ws();
      if (name.empty() || lx.peek() != '=') {
        lx.i = save;
        break;
      }
      ++lx.i;
      lx.skip_ws();
      std::string value;
      if (lx.peek() == '"') {
        ++lx.i;
        bool closed = false;
        while (!lx.eof()) {
          char ch = lx.s[lx.i++];
          if (ch == '\\' && !lx.eof()) { value.push_back(lx.s[lx.i++]); continue; }
          if (ch == '"') { closed = true; break; }
          value.push_back(ch);
        }
        if (!closed) return bad("unterminated quoted string");
      } else {
        // Lenient: registries send unquoted URLs, which are not RFC tokens.
        size_t start = lx.i;
        while (!lx.eof() && lx.peek() != ',' && lx.peek() != ' ' && lx.peek() != '\t') ++lx.i;
        value = std::string(lx.s.substr(start, lx.i - start));
      }
      c.params[lower(name)] = value;
      lx.skip_ws();
      if (lx.peek() == ',') { ++lx.i; continue; }
      break;
    }
    out.push_back(std::move(c));
  }
  if (out.empty()) return bad("no challenge");
  return out;
}

Result<Token> parse_token_response(std::string_view body, std::chrono::steady_clock::time_point now) {
  auto doc = json::parse(body);
  if (!doc || !doc->IsObject()) return make_error(Code::kUnavailable, "token server returned no JSON object");
  std::string tok = json::get_string(*doc, "token");
  if (tok.empty()) tok = json::get_string(*doc, "access_token");
  if (tok.empty()) return make_error(Code::kUnavailable, "token server response has no token");
  // The server picks any int64: clamp to [the distribution spec's minimum, a day] before the
  // arithmetic below, which would overflow (undefined behaviour) for values near INT64_MAX.
  int64_t expires_in = std::clamp<int64_t>(json::get_int(*doc, "expires_in", kMinTokenLifetime.count()),
                                           kMinTokenLifetime.count(), kMaxTokenLifetime.count());
  // A margin so a token does not expire between the cache lookup and the request.
  return Token{std::move(tok), now + std::chrono::seconds(expires_in - 10)};
}

std::optional<std::string> TokenCache::get(const std::string& key) {
  std::lock_guard lk(mu_);
  auto it = tokens_.find(key);
  if (it == tokens_.end()) return std::nullopt;
  if (std::chrono::steady_clock::now() >= it->second.expires) {
    tokens_.erase(it);
    return std::nullopt;
  }
  return it->second.value;
}

void TokenCache::put(const std::string& key, Token token) {
  std::lock_guard lk(mu_);
  tokens_[key] = std::move(token);
}

}  // namespace berth::fetcher
