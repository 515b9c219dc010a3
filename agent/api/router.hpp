// Router: matches a request path against "METHOD /a/{b}/c" patterns. Pure and small so the
// matching rules are unit-tested apart from the HTTP server.
//
// Invariants: the path is split on '/' before each segment is percent-decoded, so a "{name}"
// segment may carry a '/' encoded as %2F. Among patterns that match, the one whose literal
// segments come first wins ("/v1/images/prune" beats "/v1/images/{ref}").
//
// Threading: add() before use; match() is const and safe from many threads.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth::api {

// Decodes %XX escapes; with `plus_is_space`, '+' becomes ' ' (query strings). Malformed
// escapes are kept as they are.
std::string percent_decode(std::string_view s, bool plus_is_space);

// Splits a raw (still encoded) path into decoded segments; empty segments are dropped.
std::vector<std::string> split_path(std::string_view raw_path);

class Router {
 public:
  struct Match {
    size_t route = 0;                             // index given by add()
    std::map<std::string, std::string> params;
  };
  struct Outcome {
    std::optional<Match> match;                   // set when method and path matched
    std::vector<std::string> allowed;             // methods for this path when only it matched
  };

  // Returns the route's index.
  size_t add(const std::string& method, const std::string& pattern);
  Outcome match(const std::string& method, const std::vector<std::string>& segments) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;            // "{name}" for a parameter
  };
  std::vector<Route> routes_;
};

}  // namespace berth::api
