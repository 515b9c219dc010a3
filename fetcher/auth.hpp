// Registry authentication: parsing WWW-Authenticate challenges (RFC 7235: a scheme, then
// comma-separated auth-params, values as tokens or quoted strings with backslash escapes) and a
// cache of Bearer tokens keyed by realm+service+scope, valid until their expiry minus a margin.
// Tokens and passwords are secrets: nothing here puts them into an Error.
// TokenCache is thread-safe; parsing is pure.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace berth::fetcher {

struct Challenge {
  std::string scheme;  // lower-case: "basic", "bearer"
  std::map<std::string, std::string> params;  // lower-case names: realm, service, scope, error
  std::string param(const std::string& name) const {
    auto it = params.find(name);
    return it == params.end() ? std::string() : it->second;
  }
};

// "Authorization: Basic <base64(user:password)>" for a request header.
std::string basic_authorization(std::string_view username, std::string_view password);

// One header value may hold several challenges ("Basic realm=x, Bearer realm=y").
Result<std::vector<Challenge>> parse_challenges(std::string_view header);

struct Token {
  std::string value;
  std::chrono::steady_clock::time_point expires;
};

inline constexpr std::chrono::seconds kMinTokenLifetime{60};
inline constexpr std::chrono::seconds kMaxTokenLifetime{24 * 3600};

// Parses a token server response: {"token"|"access_token", "expires_in" (default 60 s)}.
// expires_in is clamped to [kMinTokenLifetime, kMaxTokenLifetime] whatever the server sends.
Result<Token> parse_token_response(std::string_view body, std::chrono::steady_clock::time_point now);

class TokenCache {
 public:
  std::optional<std::string> get(const std::string& key);
  void put(const std::string& key, Token token);

 private:
  std::mutex mu_;
  std::map<std::string, Token> tokens_;
};

}  // namespace berth::fetcher
