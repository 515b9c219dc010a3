// Client: talks to berthd's HTTP/1.1 API over its Unix socket (libcurl underneath). Used by
// the berth CLI and by integration tests.
//
// Invariants: a connection failure is kUnavailable with a message that says what to check; a
// non-2xx reply from call()/stream() becomes an Error carrying the server's code and message.
// Transfers have no overall timeout (logs -f, wait and events may last for hours).
//
// Threading: a Client holds no connection state; each call opens its own libcurl handle, so
// one Client may be used from several threads at once.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "common/json.hpp"
#include "common/result.hpp"

namespace berth::cli {

struct HttpResponse {
  long status = 0;
  std::string body;
};

class Client {
 public:
  explicit Client(std::string socket_path);

  const std::string& socket_path() const { return socket_path_; }

  // Any HTTP status is a value; only a transport failure is an Error.
  Result<HttpResponse> request(const std::string& method, const std::string& target,
                               const std::string& body = "");

  // Streams the body: on_data gets each chunk as it arrives; return false to stop early.
  // Returns the HTTP status of a 2xx reply; a non-2xx reply is an Error as in call().
  Result<long> stream(const std::string& method, const std::string& target,
                      const std::string& body,
                      const std::function<bool(std::string_view)>& on_data);

  // Parses the body of a 2xx as JSON (an empty body gives a Null document); a non-2xx becomes
  // an Error carrying the server's code + message.
  Result<rapidjson::Document> call(const std::string& method, const std::string& target,
                                   const std::string& body = "");

 private:
  std::string socket_path_;
};

// $BERTH_SOCKET or /run/berth/berth.sock.
std::string default_socket_path();

// The Error a non-2xx reply stands for: the server's {"error":{code,message}} when present,
// otherwise a code guessed from the status and the raw body.
Error error_from_reply(long status, std::string_view body);

// Percent-encodes one path segment or query value.
std::string url_encode(std::string_view s);

}  // namespace berth::cli
