#include "isolators/network/cni_network.hpp"

#include <unistd.h>

#include "common/fs.hpp"
#include "common/json.hpp"
#include "isolators/network/cni_exec.hpp"
#include "isolators/network/netns_file.hpp"

namespace berth::isolators {

struct CniNetwork::Record {
  std::string network;
  std::string conflist;  // the list as used at ADD (DEL must see the same one)
  std::string netns;
  std::string ifname = "eth0";
  std::string runtime_config;
  std::string result;  // empty until ADD finished
};

namespace {

constexpr size_t kMaxRecords = 65536;
constexpr const char* kPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

std::string record_text(const std::string& id, const std::string& network, const std::string& conflist,
                        const std::string& netns, const std::string& ifname, const std::string& runtime_config,
                        const std::string& result) {
  json::JsonWriter w;
  w.begin_object().kv("id", id).kv("network", network).kv("conflist", conflist).kv("netns", netns)
      .kv("ifname", ifname).kv("runtime_config", runtime_config).kv("result", result).end_object();
  return w.str();
}

std::string address_only(const std::string& cidr) { return cidr.substr(0, cidr.find('/')); }

}  // namespace

Result<CniNetwork::Record> CniNetwork::load(const std::string& id) const {
  BERTH_TRY(std::string text, fs::read_file(record_path(id)));
  BERTH_TRY_CTX(auto doc, json::parse(text), record_path(id));
  if (!doc.IsObject()) return make_error(Code::kInternal, record_path(id) + ": not a JSON object");
  return Record{json::get_string(doc, "network"), json::get_string(doc, "conflist"), json::get_string(doc, "netns"),
                json::get_string(doc, "ifname", "eth0"), json::get_string(doc, "runtime_config"),
                json::get_string(doc, "result")};
}

Status CniNetwork::save(const std::string& id, const Record& r) const {
  BERTH_CHECK(fs::mkdir_p(config_.cni_state_dir, 0700));
  return fs::write_file_atomic(record_path(id),
                               record_text(id, r.network, r.conflist, r.netns, r.ifname, r.runtime_config, r.result), 0600);
}

Result<std::string> CniNetwork::plugin_path(const std::string& type, const std::string& network) const {
  std::string dirs;
  for (const auto& dir : config_.cni_plugin_dirs) {
    std::string path = dir + "/" + type;
    if (::access(path.c_str(), X_OK) == 0) return path;
    dirs += (dirs.empty() ? "" : ":") + dir;
  }
  return make_error(Code::kFailedPrecondition, "CNI network '" + network + "' needs plugin '" + type +
                                                   "', which is not in the plugin dirs (" + dirs + ")");
}

Result<std::string> CniNetwork::invoke(const std::string& id, const Record& r, size_t index,
                                       const std::string& command, const std::string& prev) const {
  BERTH_TRY(CniConflist list, parse_conflist(r.conflist, ""));
  const std::string& type = list.types[index];
  const std::string ctx = "CNI plugin '" + type + "' of network '" + r.network + "' (" + command + ")";
  BERTH_TRY_CTX(std::string path, plugin_path(type, r.network), ctx);
  BERTH_TRY_CTX(std::string stdin_text, cni_plugin_config(list, index, prev, r.runtime_config), ctx);
  std::string cni_path;
  for (const auto& dir : config_.cni_plugin_dirs) cni_path += (cni_path.empty() ? "" : ":") + dir;
  CniExec e{path,
            {"CNI_COMMAND=" + command, "CNI_CONTAINERID=" + id, "CNI_NETNS=" + r.netns, "CNI_IFNAME=" + r.ifname,
             "CNI_ARGS=IgnoreUnknown=1", "CNI_PATH=" + cni_path, kPath},
            std::move(stdin_text),
            std::chrono::milliseconds(config_.cni_timeout_ms)};
  BERTH_TRY_CTX(std::string out, exec_cni_plugin(e), ctx);
  return out;
}

Result<std::string> CniNetwork::add_chain(const std::string& id, const Record& r) const {
  BERTH_TRY(CniConflist list, parse_conflist(r.conflist, ""));
  std::string prev;
  for (size_t i = 0; i < list.types.size(); ++i) {
    BERTH_TRY(std::string out, invoke(id, r, i, "ADD", prev));
    BERTH_TRY_CTX(CniResult parsed, parse_cni_result(out),
                  "CNI plugin '" + list.types[i] + "' of network '" + r.network + "' (ADD)");
    (void)parsed;
    prev = std::move(out);
  }
  return prev;
}

Status CniNetwork::del_chain(const std::string& id, const Record& r) const {
  BERTH_TRY(CniConflist list, parse_conflist(r.conflist, ""));
  Status first = ok();
  for (size_t i = list.types.size(); i-- > 0;) {
    auto out = invoke(id, r, i, "DEL", r.result);
    if (!out && first) first = std::move(out).error();
  }
  return first;
}

Result<CniAttachment> CniNetwork::write_files(const std::string& sandbox_dir, const std::string& hostname,
                                              const std::string& result) const {
  BERTH_TRY(CniResult parsed, parse_cni_result(result));
  CniAttachment a;
  a.result = result;
  a.parsed = parsed;
  std::string dir = sandbox_dir + "/network";
  BERTH_CHECK(fs::mkdir_p(dir, 0755));
  if (!parsed.nameservers.empty()) {
    std::string resolv = "# written by berth from the CNI result\n";
    for (const auto& ns : parsed.nameservers) resolv += "nameserver " + ns + "\n";
    if (!parsed.search.empty()) {
      resolv += "search";
      for (const auto& s : parsed.search) resolv += " " + s;
      resolv += "\n";
    }
    a.resolv_conf = dir + "/resolv.conf";
    BERTH_CHECK(fs::write_file_atomic(a.resolv_conf, resolv, 0644));
  }
  std::string hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
  if (!hostname.empty() && !parsed.ips.empty()) hosts += address_only(parsed.ips[0].address) + "\t" + hostname + "\n";
  a.hosts = dir + "/hosts";
  BERTH_CHECK(fs::write_file_atomic(a.hosts, hosts, 0644));
  return a;
}

Result<CniAttachment> CniNetwork::attach(const std::string& id, const std::string& network, const CniCapabilities& caps,
                                         const std::string& sandbox_dir, const std::string& hostname) {
  if (config_.cni_state_dir.empty() || config_.cni_netns_dir.empty())
    return make_error(Code::kFailedPrecondition, "this berthd has no CNI state dir configured");
  if (network.empty())
    return make_error(Code::kInvalidArgument, "field '/network/name': network mode \"cni\" needs the CNI network's name");
  BERTH_TRY(CniConflist list, find_conflist(config_.cni_config_dir, network));
  for (const auto& type : list.types) {
    BERTH_TRY(std::string found, plugin_path(type, network));
    (void)found;
  }
  Record r{network, list.text, netns_path(id), "eth0", cni_runtime_config(caps), ""};
  BERTH_CHECK_CTX(save(id, r), "record the CNI attachment");
  auto done = [&]() -> Result<CniAttachment> {
    BERTH_CHECK(fs::mkdir_p(config_.cni_netns_dir, 0700));
    BERTH_CHECK(create_netns_file(r.netns));
    BERTH_TRY(r.result, add_chain(id, r));
    BERTH_CHECK_CTX(save(id, r), "record the CNI result");
    BERTH_TRY(CniAttachment a, write_files(sandbox_dir, hostname, r.result));
    a.netns_path = r.netns;
    return a;
  }();
  if (!done) (void)detach(id);  // the first error is the one to report
  return done;
}

Status CniNetwork::detach(const std::string& id) {
  Status first = ok();
  auto rec = load(id);
  if (rec) first = del_chain(id, *rec);
  else if (rec.error().sys_errno != ENOENT) first = std::move(rec).error();
  if (auto st = remove_netns_file(netns_path(id)); !st && first) first = std::move(st);
  if (first && ::unlink(record_path(id).c_str()) != 0 && errno != ENOENT) first = errno_error("remove " + record_path(id));
  return first;
}

Status CniNetwork::check(const std::string& id) {
  BERTH_TRY(Record r, load(id));
  BERTH_TRY(CniConflist list, parse_conflist(r.conflist, ""));
  if (list.disable_check || (list.cni_version.rfind("0.", 0) == 0 && list.cni_version < "0.4.0")) return ok();
  if (r.result.empty()) return make_error(Code::kInternal, "the CNI attachment of '" + id + "' has no result");
  for (size_t i = 0; i < list.types.size(); ++i) {
    BERTH_TRY(std::string out, invoke(id, r, i, "CHECK", r.result));
    (void)out;
  }
  return ok();
}

Status CniNetwork::reconcile(const std::set<std::string>& keep) {
  if (config_.cni_state_dir.empty() || config_.cni_netns_dir.empty()) return ok();
  std::set<std::string> owners;
  for (const auto* dir : {&config_.cni_state_dir, &config_.cni_netns_dir}) {
    auto files = fs::list_dir(*dir).value_or(std::vector<std::string>{});
    if (files.size() > kMaxRecords)
      return make_error(Code::kInternal, *dir + " holds more than 65536 entries; the scan budget ran out");
    for (auto f : files) {
      if (dir == &config_.cni_state_dir) {
        if (!f.ends_with(".json")) continue;
        f.resize(f.size() - 5);
      }
      owners.insert(f);
    }
  }
  Status first = ok();
  for (const auto& id : owners) {
    if (keep.count(id)) continue;
    auto st = detach(id);
    if (!st && first) first = std::move(st).error().wrap("remove the CNI attachment of '" + id + "'");
  }
  return first;
}

bool CniNetwork::attached(const std::string& id) const {
  return !config_.cni_state_dir.empty() && fs::exists(record_path(id));
}

std::string CniNetwork::result_json(const std::string& id) const {
  auto r = load(id);
  if (!r || r->result.empty()) return "";
  auto parsed = parse_cni_result(r->result);
  return parsed ? cni_result_json(*parsed) : "";
}

}  // namespace berth::isolators
