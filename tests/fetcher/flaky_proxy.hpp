// FlakyProxy: a TCP relay on 127.0.0.1 in front of a test registry that cuts the first blob
// response after a given number of bytes, so tests can watch the client resume with Range, and
// optionally throttles every response to a byte rate (a slow registry; kNoCut to only throttle).
// Records every request head it relays. One thread per connection; all joined in the destructor.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.hpp"

namespace berth::testing {

class FlakyProxy {
 public:
  static constexpr size_t kNoCut = SIZE_MAX;
  FlakyProxy(int upstream_port, size_t cut_after, size_t bytes_per_second = 0)
      : upstream_port_(upstream_port), cut_after_(cut_after), rate_(bytes_per_second) {
    listen_ = UniqueFd::adopt(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listen_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(listen_.get(), 16);
    socklen_t len = sizeof a;
    ::getsockname(listen_.get(), reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~FlakyProxy() {
    stop_ = true;
    accept_thread_.join();
    for (auto& t : conns_) t.join();
  }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> requests() {
    std::lock_guard lk(mu_);
    return requests_;
  }
  bool cut() const { return cut_done_; }

 private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{listen_.get(), POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) conns_.emplace_back([this, c] { relay(UniqueFd::adopt(c)); });
    }
  }
  void relay(UniqueFd client) {
    UniqueFd up = UniqueFd::adopt(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(upstream_port_));
    if (::connect(up.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return;
    bool cutting = false;  // this connection carries the blob response to cut
    size_t sent = 0;
    char buf[16384];
    while (!stop_) {
      pollfd p[2] = {{client.get(), POLLIN, 0}, {up.get(), POLLIN, 0}};
      if (::poll(p, 2, 50) <= 0) continue;
      if (p[0].revents) {
        ssize_t n = ::read(client.get(), buf, sizeof buf);
        if (n <= 0) return;
        std::string head(buf, static_cast<size_t>(n));
        {
          std::lock_guard lk(mu_);
          requests_.push_back(head.substr(0, head.find("\r\n\r\n")));
        }
        if (!cut_done_ && head.rfind("GET ", 0) == 0 && head.find("/blobs/sha256:") != std::string::npos &&
            head.find("Range:") == std::string::npos)
          cutting = true;
        if (::write(up.get(), buf, static_cast<size_t>(n)) != n) return;
      }
      if (p[1].revents) {
        ssize_t n = ::read(up.get(), buf, sizeof buf);
        if (n <= 0) return;
        size_t len = static_cast<size_t>(n);
        if (cutting && sent + len >= cut_after_) {
          len = cut_after_ - sent;
          if (::write(client.get(), buf, len) < 0) return;
          cut_done_ = true;
          return;  // both sockets close: the client sees a truncated body
        }
        sent += len;
        if (::write(client.get(), buf, len) != static_cast<ssize_t>(len)) return;
        if (rate_) throttle(len);
      }
    }
  }

  // Waits as long as `len` bytes take at the configured rate, in slices so stop_ ends it.
  void throttle(size_t len) {
    auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(len * 1000000 / rate_);
    while (!stop_ && std::chrono::steady_clock::now() < until) ::poll(nullptr, 0, 10);
  }

  int upstream_port_;
  size_t cut_after_;
  size_t rate_;
  int port_ = 0;
  UniqueFd listen_;
  std::atomic<bool> stop_{false}, cut_done_{false};
  std::thread accept_thread_;
  std::vector<std::thread> conns_;
  std::mutex mu_;
  std::vector<std::string> requests_;
};

}  // namespace berth::testing
