#include "cli/format.hpp"

#include "common/signals.hpp"

#include <rapidjson/prettywriter.h>
#include <strings.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iterator>

namespace berth::cli {
namespace {

const rapidjson::Value* member(const rapidjson::Value& obj, const char* key) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(key);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

std::optional<int64_t> time_of(const rapidjson::Value& obj, const char* key) {
  const rapidjson::Value* m = member(obj, key);
  if (!m || !m->IsString()) return std::nullopt;
  return parse_time_ms(m->GetString());
}

std::string ago(const rapidjson::Value& container, const rapidjson::Value* record, int64_t now) {
  std::optional<int64_t> t;
  if (record) t = time_of(*record, "finished_at");
  if (!t) t = time_of(container, "finished_at");
  if (!t) return "";
  return " " + human_duration(now - *t) + " ago";
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string number_text(const rapidjson::Value* v) {
  if (!v) return "?";
  if (v->IsInt64()) return std::to_string(v->GetInt64());
  if (v->IsUint64()) return std::to_string(v->GetUint64());
  if (v->IsNumber()) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%g", v->GetDouble());
    return buf;
  }
  return "?";
}

}  // namespace

std::optional<int64_t> parse_time_ms(std::string_view text) {
  std::string s(text);
  struct tm tm {};
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6)
    return std::nullopt;
  size_t i = static_cast<size_t>(consumed);
  int64_t ms = 0;
  if (i < s.size() && s[i] == '.') {
    int digits = 0;
    for (++i; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])); ++i, ++digits)
      if (digits < 3) ms = ms * 10 + (s[i] - '0');
    for (; digits < 3; ++digits) ms *= 10;
  }
  int64_t offset_s = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int oh = 0, om = 0;
    if (std::sscanf(s.c_str() + i + 1, "%2d:%2d", &oh, &om) != 2) return std::nullopt;
    offset_s = (s[i] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  time_t t = timegm(&tm);
  return (static_cast<int64_t>(t) - offset_s) * 1000 + ms;
}

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string human_duration(int64_t ms) {
  int64_t s = ms / 1000;
  if (s < 1) return "Less than a second";
  if (s == 1) return "1 second";
  if (s < 60) return std::to_string(s) + " seconds";
  int64_t m = s / 60;
  if (m == 1) return "About a minute";
  if (m < 60) return std::to_string(m) + " minutes";
  int64_t h = (s + 1800) / 3600;
  if (h == 1) return "About an hour";
  if (h < 48) return std::to_string(h) + " hours";
  if (h < 24 * 7 * 2) return std::to_string(h / 24) + " days";
  if (h < 24 * 30 * 2) return std::to_string(h / 24 / 7) + " weeks";
  if (h < 24 * 365 * 2) return std::to_string(h / 24 / 30) + " months";
  return std::to_string(h / 24 / 365) + " years";
}

std::string format_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 3, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string command_text(const std::vector<std::string>& argv, size_t max) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    bool plain = !a.empty() && a.find_first_of(" \t\n\"'\\$") == std::string::npos;
    if (plain) {
      out += a;
    } else {
      out += '"';
      for (char c : a) {
        if (c == '"' || c == '\\') out += '\\';
        out += c == '\n' ? ' ' : c;
      }
      out += '"';
    }
  }
  if (max > 3 && out.size() > max) out = out.substr(0, max - 3) + "...";
  return out;
}

int exit_code_of(const rapidjson::Value& record) {
  std::string reason = json::get_string(record, "reason");
  if (reason == "launch_failed" || reason == "lost") return 125;
  const rapidjson::Value* sig = member(record, "signal");
  if (sig && !sig->IsNull()) {
    std::optional<int> n;
    if (sig->IsString()) n = parse_signal(sig->GetString());
    else if (sig->IsInt()) n = sig->GetInt();
    return n ? 128 + *n : 125;
  }
  const rapidjson::Value* code = member(record, "exit_code");
  if (code && code->IsInt()) return code->GetInt() & 0xff;
  return 125;
}

std::string status_text(const rapidjson::Value& container, int64_t now) {
  std::string state = json::get_string(container, "state");
  if (state == "running") {
    auto started = time_of(container, "started_at");
    return started ? "Up " + human_duration(now - *started) : "Up";
  }
  if (state == "pending") return "Created";
  if (state == "preparing") return "Preparing";
  const rapidjson::Value* rec = member(container, "exit");
  if (!rec || !rec->IsObject()) {
    std::string s = state.empty() ? "Unknown" : state;
    s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
    return s + ago(container, nullptr, now);
  }
  std::string reason = json::get_string(*rec, "reason");
  std::string when = ago(container, rec, now);
  if (reason == "launch_failed") return "Failed to launch" + when;
  if (reason == "lost") return "Lost" + when;
  const rapidjson::Value* sig = member(*rec, "signal");
  if (sig && !sig->IsNull()) {
    std::string name = sig->IsString() ? sig->GetString() : number_text(sig);
    return (reason == "killed" ? "Killed (" : "Exited (") + name + ")" + when;
  }
  std::string code = number_text(member(*rec, "exit_code"));
  return (reason == "killed" ? "Killed (" : "Exited (") + code + ")" + when;
}

std::string created_text(const rapidjson::Value& container, int64_t now) {
  auto t = time_of(container, "created_at");
  return t ? human_duration(now - *t) + " ago" : "";
}

std::string format_ps(const rapidjson::Value& list, int64_t now) {
  std::vector<std::vector<std::string>> rows{{"ID", "NAME", "STATE", "CREATED", "STATUS", "COMMAND"}};
  const rapidjson::Value* arr = member(list, "containers");
  if (arr && arr->IsArray()) {
    for (const auto& c : arr->GetArray()) {
      std::vector<std::string> argv;
      if (const rapidjson::Value* spec = member(c, "spec")) {
        argv = json::get_string_array(*spec, "command");
        // An image task without a command runs the image's own: name the image instead.
        if (argv.empty() && !json::get_string(*spec, "image").empty()) argv = {"(" + json::get_string(*spec, "image") + ")"};
      }
      std::string name = json::get_string(c, "name");
      std::string status = status_text(c, now);
      if (json::get_bool(c, "privileged")) status += ", privileged";
      rows.push_back({json::get_string(c, "id"), name.empty() ? "-" : name,
                      json::get_string(c, "state"), created_text(c, now), status,
                      command_text(argv)});
    }
  }
  return format_table(rows);
}

std::string format_endpoints(const rapidjson::Value& list) {
  std::vector<std::vector<std::string>> rows{{"TASK", "NAME", "PORT", "PROTO", "HOST", "CONTAINER", "ADDRESS"}};
  const rapidjson::Value* arr = member(list, "endpoints");
  if (arr && arr->IsArray()) {
    for (const auto& e : arr->GetArray()) {
      std::string name = json::get_string(e, "task_name"), address = json::get_string(e, "address");
      rows.push_back({json::get_string(e, "task_id"), name.empty() ? "-" : name, json::get_string(e, "port_name"),
                      json::get_string(e, "protocol"),
                      json::get_string(e, "host_ip") + ":" + std::to_string(json::get_uint(e, "host_port")),
                      std::to_string(json::get_uint(e, "container_port")), address.empty() ? "-" : address});
    }
  }
  return format_table(rows);
}

std::string format_exit(const rapidjson::Value& record) {
  std::string message = json::get_string(record, "message");
  if (!message.empty()) return message;
  std::string reason = json::get_string(record, "reason", "unknown");
  const rapidjson::Value* sig = member(record, "signal");
  if (sig && sig->IsString()) return reason + " by " + sig->GetString();
  const rapidjson::Value* code = member(record, "exit_code");
  if (code && code->IsInt()) return reason + " with code " + std::to_string(code->GetInt());
  return reason;
}

std::string format_event(const rapidjson::Value& event) {
  std::string line = json::get_string(event, "time") + " " + json::get_string(event, "type");
  std::string id = json::get_string(event, "id");
  std::string name = json::get_string(event, "name");
  if (!id.empty()) line += " " + id;
  if (!name.empty()) line += " (" + name + ")";
  std::string state = json::get_string(event, "state");
  if (!state.empty()) line += " state=" + state;
  const rapidjson::Value* rec = member(event, "exit");
  if (rec && rec->IsObject()) line += ": " + format_exit(*rec);
  const rapidjson::Value* removed = member(event, "removed");
  if (removed && !removed->IsNull()) line += " removed=" + json::to_string(*removed);
  return line;
}

std::string format_info(const rapidjson::Value& info) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"Version:", json::get_string(info, "version")});
  if (const rapidjson::Value* cg = member(info, "cgroup")) {
    rows.push_back({"Cgroup mode:", json::get_string(*cg, "mode")});
    rows.push_back({"Cgroup mount:", json::get_string(*cg, "mount")});
    rows.push_back({"Cgroup root:", json::get_string(*cg, "root")});
    auto have = json::get_string_array(*cg, "controllers");
    auto missing = json::get_string_array(*cg, "missing");
    rows.push_back({"Controllers:", have.empty() ? "(none)" : join(have, ", ")});
    if (!missing.empty()) rows.push_back({"Missing:", join(missing, ", ") + " (limits on these are refused)"});
    if (const rapidjson::Value* serving = member(*cg, "serving"); serving && serving->IsObject()) {
      std::vector<std::string> by;
      for (const auto& m : serving->GetObject()) {
        std::string kind = json::get_string(m.value, "hierarchy");
        by.push_back(std::string(m.name.GetString()) + ": cgroup " + kind +
                     (kind == "v1" ? " (" + json::get_string(m.value, "mount") + ")" : ""));
      }
      if (!by.empty()) rows.push_back({"Enforced by:", join(by, ", ")});
    }
    for (const auto& n : json::get_string_array(*cg, "notes")) rows.push_back({"Note:", n});
  }
  if (const rapidjson::Value* cap = member(info, "capacity"))
    rows.push_back({"Capacity:", number_text(member(*cap, "cpus")) + " CPUs, " +
                                     number_text(member(*cap, "memory_mb")) + " MB memory"});
  if (const rapidjson::Value* n = member(info, "containers"))
    rows.push_back({"Containers:", number_text(member(*n, "total")) + " (" +
                                       number_text(member(*n, "running")) + " running)"});
  if (const rapidjson::Value* p = member(info, "paths")) {
    rows.push_back({"Socket:", json::get_string(*p, "socket")});
    rows.push_back({"Run dir:", json::get_string(*p, "run_dir")});
    rows.push_back({"State dir:", json::get_string(*p, "state_dir")});
  }
  std::string out;
  size_t w = 0;
  for (const auto& r : rows) w = std::max(w, r[0].size());
  for (const auto& r : rows) out += r[0] + std::string(w - r[0].size() + 1, ' ') + r[1] + "\n";
  return out;
}

std::string human_size(uint64_t bytes) {
  static const char* const kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
  if (bytes < 1000) return std::to_string(bytes) + " B";
  double v = static_cast<double>(bytes);
  size_t unit = 0;
  // 999.5 and up would print as "1000": move to the next unit first.
  while (v >= 999.5 && unit + 1 < std::size(kUnits)) {
    v /= 1000;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), v < 99.95 ? "%.1f %s" : "%.0f %s", v, kUnits[unit]);
  return buf;
}

std::string short_digest(std::string_view digest) {
  if (digest.rfind("sha256:", 0) == 0) digest.remove_prefix(7);
  return std::string(digest.substr(0, 12));
}

std::string image_summary(const rapidjson::Value& image) {
  const rapidjson::Value* layers = member(image, "layers");
  size_t n = layers && layers->IsArray() ? layers->Size() : 0;
  std::string digest = json::get_string(image, "manifest_digest");
  std::string algo = digest.substr(0, digest.find(':') == std::string::npos ? 0 : digest.find(':') + 1);
  return json::get_string(image, "ref") + " (" + algo + short_digest(digest) + "\u2026, " +
         std::to_string(n) + (n == 1 ? " layer, " : " layers, ") +
         human_size(json::get_uint(image, "size")) + ")";
}

std::string format_images(const rapidjson::Value& list) {
  std::vector<std::vector<std::string>> rows{{"REF", "DIGEST", "LAYERS", "SIZE", "IN USE"}};
  const rapidjson::Value* arr = member(list, "images");
  if (arr && arr->IsArray()) {
    for (const auto& img : arr->GetArray()) {
      const rapidjson::Value* layers = member(img, "layers");
      rows.push_back({json::get_string(img, "ref"), short_digest(json::get_string(img, "manifest_digest")),
                      std::to_string(layers && layers->IsArray() ? layers->Size() : 0),
                      human_size(json::get_uint(img, "size")), json::get_bool(img, "in_use") ? "yes" : "no"});
    }
  }
  return format_table(rows);
}

std::string format_prune(const rapidjson::Value& stats) {
  auto count = [&](const char* key, const char* one, const char* many) {
    uint64_t n = json::get_uint(stats, key);
    return std::to_string(n) + " " + (n == 1 ? one : many);
  };
  std::vector<std::string> images = json::get_string_array(stats, "removed_images");
  std::string out = "removed " + std::to_string(images.size()) + (images.size() == 1 ? " image, " : " images, ") +
                    count("removed_layers", "layer", "layers") + ", " + count("removed_blobs", "blob", "blobs") +
                    "; freed " + human_size(json::get_uint(stats, "freed_bytes")) + "\n";
  for (const auto& ref : images) out += "removed image " + ref + "\n";
  if (!json::get_bool(stats, "headroom_met", true))
    out += "free space is still below gc_headroom_mb: the remaining images are in use\n";
  return out;
}

std::string pretty_json(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
  w.SetIndent(' ', 2);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize()) + "\n";
}

}  // namespace berth::cli
