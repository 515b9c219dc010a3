// Netlink: the rtnetlink requests the bridge network needs (links, addresses, routes), made
// with libmnl on one NETLINK_ROUTE socket. A socket belongs to the network namespace it was
// opened in: open() uses berthd's, open_in(netns_fd) opens one inside another namespace (from
// a short-lived thread that setns()es, so no berthd thread ever changes namespace).
// Every request is acknowledged (NLM_F_ACK) and its error comes back with the request named.
// Threading: one Netlink per caller; not shared between threads.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

struct mnl_socket;
struct nlmsghdr;

namespace berth::isolators::netlink {

class Netlink {
 public:
  static Result<Netlink> open();
  static Result<Netlink> open_in(int netns_fd);
  Netlink(Netlink&&) noexcept;
  Netlink& operator=(Netlink&&) noexcept;
  ~Netlink();

  // The index of link `name`; nullopt when there is none.
  Result<std::optional<int>> link_index(const std::string& name);
  // A bridge `name` with `mtu` and the MAC address `mac` (the kernel then keeps it, rather than
  // taking the lowest of its ports'); kAlreadyExists when a link of that name exists.
  Status add_bridge(const std::string& name, uint32_t mtu, const std::array<uint8_t, 6>& mac);
  // A veth pair: `name` here, up and on the bridge `master_index`, and `peer` created straight
  // in the namespace `peer_netns_fd`, down (the kernel refuses to open a peer before the pair is
  // linked: ENOTCONN).
  Status add_veth(const std::string& name, const std::string& peer, uint32_t mtu, int peer_netns_fd,
                  int master_index);
  Status set_master(int index, int master_index);
  Status set_up(int index);
  Status rename(int index, const std::string& name);
  Status add_address(int index, uint32_t address, int prefix);
  // A task's side of a veth, in the task's fresh namespace: loopback and `index` up, `address`/
  // `prefix` on `index`, the default route through `gateway`; four requests in one send, each
  // acknowledged (the first failure is reported).
  Status set_up_task_side(int index, uint32_t address, int prefix, uint32_t gateway);
  // Deletes link `name`; ok when there is none.
  Status delete_link(const std::string& name);
  // The names of the links here (at most 4096, the budget of one dump).
  Result<std::vector<std::string>> link_names();

  // Requests built elsewhere (traffic_control.cpp): the sequence number is set here. send()
  // waits for the ack; query() also runs each reply through `cb` (libmnl's mnl_cb_t), for a
  // request without NLM_F_ACK whose answer ends it.
  using ReplyCallback = int (*)(const nlmsghdr*, void*);
  Status send(nlmsghdr* nlh, const std::string& what);
  Status query(nlmsghdr* nlh, ReplyCallback cb, void* data, const std::string& what);

 private:
  explicit Netlink(mnl_socket* s);
  Status request(void* buf, const std::string& what);
  struct Pending {
    nlmsghdr* nlh;
    std::string what;
  };
  Status request_all(const std::vector<Pending>& requests);
  mnl_socket* sock_ = nullptr;
  uint32_t seq_ = 1;
};

}  // namespace berth::isolators::netlink
