// CniNetwork: the node's cni mode. attach(id) runs the operator's CNI plugin chain (the
// conflist named by the spec, from the node's CNI config dir) for a namespace berthd makes
// before the task exists, which the task joins by path (as BridgeNetwork does):
//  1. the conflist is found and every plugin binary located (nothing is made when one is
//     missing: unknown network 400, missing plugin 409);
//  2. an attachment record <cni_state_dir>/<id>.json is written (network, conflist as used,
//     namespace path, interface, runtimeConfig) BEFORE anything exists, so a berthd killed
//     anywhere after this point leaves a record that reconcile() DELs;
//  3. a network namespace is kept by a bind mount at <cni_netns_dir>/<id>;
//  4. ADD runs each plugin in order, each given the previous one's result ("prevResult");
//  5. the final result is added to the record (so CHECK and DEL get it as prevResult after a
//     restart) and written as /etc/resolv.conf and /etc/hosts for bind mounts.
// A failed ADD (a plugin error or timeout) DELs the whole chain and removes the namespace and
// the record before returning, so nothing is left half configured.
// detach(id) runs DEL in reverse order with the recorded result, removes the namespace and,
// when every DEL worked, the record (a record whose DEL failed stays for the next
// reconcile). check(id) runs CHECK (CNI >= 0.4.0, unless the list says disableCheck).
// Threading: not thread-safe; the network isolator calls it under the Registry's lock.
#pragma once

#include <set>
#include <string>

#include "common/result.hpp"
#include "isolators/network/cni_config.hpp"
#include "isolators/network/network_spec.hpp"

namespace berth::isolators {

struct CniAttachment {
  std::string netns_path;
  std::string result;  // the chain's final result (raw JSON)
  CniResult parsed;
  std::string resolv_conf;  // host paths of the generated files
  std::string hosts;
};

class CniNetwork {
 public:
  explicit CniNetwork(NetworkConfig config) : config_(std::move(config)) {}

  Result<CniAttachment> attach(const std::string& id, const std::string& network, const CniCapabilities& caps,
                               const std::string& sandbox_dir, const std::string& hostname);
  Status detach(const std::string& id);
  Status check(const std::string& id);
  // Detaches every attachment (record or namespace) whose id is not in `keep`.
  Status reconcile(const std::set<std::string>& keep);
  // Whether `id` has an attachment record (survives a restart).
  bool attached(const std::string& id) const;
  // The recorded result of `id` in the API's form (cni_result_json), or "" when none.
  std::string result_json(const std::string& id) const;

  std::string netns_path(const std::string& id) const { return config_.cni_netns_dir + "/" + id; }
  std::string record_path(const std::string& id) const { return config_.cni_state_dir + "/" + id + ".json"; }

 private:
  struct Record;
  Result<Record> load(const std::string& id) const;
  Status save(const std::string& id, const Record& r) const;
  Result<std::string> plugin_path(const std::string& type, const std::string& network) const;
  Result<std::string> invoke(const std::string& id, const Record& r, size_t index, const std::string& command,
                             const std::string& prev) const;
  Result<std::string> add_chain(const std::string& id, const Record& r) const;
  Status del_chain(const std::string& id, const Record& r) const;
  Result<CniAttachment> write_files(const std::string& sandbox_dir, const std::string& hostname,
                                    const std::string& result) const;

  NetworkConfig config_;
};

}  // namespace berth::isolators
