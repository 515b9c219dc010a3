#include "cli/stats.hpp"

#include <cstdio>
#include <vector>

#include "cli/format.hpp"
#include "common/json.hpp"

namespace berth::cli {
namespace {

const rapidjson::Value* member(const rapidjson::Value& v, const char* a, const char* b = nullptr) {
  if (!v.IsObject() || !v.HasMember(a)) return nullptr;
  const rapidjson::Value* x = &v[a];
  if (!b) return x;
  if (!x->IsObject() || !x->HasMember(b)) return nullptr;
  return &(*x)[b];
}

std::string bytes(const rapidjson::Value* v) {
  if (!v || !v->IsUint64()) return "-";
  double b = static_cast<double>(v->GetUint64());
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) b /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f%s" : "%.1f%s", b, units[u]);
  return buf;
}

std::string number(const rapidjson::Value* v) {
  if (!v || !v->IsUint64()) return "-";
  return std::to_string(v->GetUint64());
}

std::string of(const std::string& used, const std::string& limit) {
  return used + " / " + (limit == "-" ? "max" : limit);
}

// "<received> / <sent>" for a task with a veth of berth's (bridge), "-" for others.
std::string net_io(const rapidjson::Value& usage) {
  const rapidjson::Value* n = member(usage, "network");
  if (!n || !n->IsObject()) return "-";
  return bytes(member(*n, "rx_bytes")) + " / " + bytes(member(*n, "tx_bytes"));
}

}  // namespace

std::map<std::string, uint64_t> cpu_usage_by_id(const rapidjson::Value& stats) {
  std::map<std::string, uint64_t> out;
  auto* list = member(stats, "containers");
  if (!list || !list->IsArray()) return out;
  for (const auto& c : list->GetArray()) {
    auto* u = member(c, "usage");
    auto* usec = u ? member(*u, "cpu", "usage_usec") : nullptr;
    if (usec && usec->IsUint64()) out[json::get_string(c, "id")] = usec->GetUint64();
  }
  return out;
}

std::string format_stats(const rapidjson::Value& stats, const std::map<std::string, uint64_t>& prev,
                         double interval_s) {
  std::vector<std::vector<std::string>> rows = {
      {"ID", "NAME", "CPU%", "CPUS", "THROTTLED", "MEM / LIMIT", "PEAK", "OOM", "PIDS / LIMIT", "DISK / LIMIT",
       "NET RX / TX"}};
  auto* list = member(stats, "containers");
  if (list && list->IsArray()) {
    auto now = cpu_usage_by_id(stats);
    for (const auto& c : list->GetArray()) {
      std::string id = json::get_string(c, "id");
      const rapidjson::Value* u = member(c, "usage");
      if (!u) continue;
      std::string cpu = "-";
      auto p = prev.find(id);
      auto n = now.find(id);
      if (p != prev.end() && n != now.end() && interval_s > 0 && n->second >= p->second) {
        char buf[16];
        std::snprintf(buf, sizeof(buf), "%.1f", static_cast<double>(n->second - p->second) / (interval_s * 1e4));
        cpu = buf;
      }
      std::string cpus = "max";
      if (auto* l = member(*u, "cpu", "limit_cpus"); l && l->IsNumber()) {
        char buf[16];
        std::snprintf(buf, sizeof(buf), "%.2f", l->GetDouble());
        cpus = buf;
      }
      std::string throttled = "-";
      if (auto* t = member(*u, "cpu", "throttled_usec"); t && t->IsUint64()) {
        char buf[24];
        std::snprintf(buf, sizeof(buf), "%.1fs", static_cast<double>(t->GetUint64()) / 1e6);
        throttled = buf;
      }
      const rapidjson::Value* mem = member(*u, "memory");
      std::string oom = "-";
      if (mem) {
        if (auto* k = member(*mem, "events", "oom_kill")) oom = number(k);
      }
      rows.push_back({id.substr(0, 12), json::get_string(c, "name"), cpu, cpus, throttled,
                      of(bytes(mem ? member(*mem, "current_bytes") : nullptr), bytes(mem ? member(*mem, "limit_bytes") : nullptr)),
                      bytes(mem ? member(*mem, "peak_bytes") : nullptr), oom,
                      of(number(member(*u, "pids", "current")), number(member(*u, "pids", "limit"))),
                      of(bytes(member(*u, "disk", "used_bytes")), bytes(member(*u, "disk", "limit_bytes"))),
                      net_io(*u)});
    }
  }
  return format_table(rows);
}

}  // namespace berth::cli
