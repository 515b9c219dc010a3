#include "cli/security_options.hpp"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "common/fs.hpp"

namespace berth::cli {
namespace {

Error bad(const std::string& what) {
  return make_error(Code::kInvalidArgument, "run: " + what + " (see 'berth --help')");
}

// A seccomp profile file, at most 1 MiB, that is a JSON object.
Result<std::string> read_profile(const std::string& path) {
  constexpr size_t kMaxProfile = 1 << 20;
  auto text = fs::read_file(path);
  if (!text) return bad("--security-opt seccomp=" + path + ": " + text.error().message);
  if (text->size() > kMaxProfile) return bad("--security-opt seccomp=" + path + ": larger than 1 MiB");
  auto doc = json::parse(*text);
  if (!doc || !doc->IsObject())
    return bad("--security-opt seccomp=" + path + ": not a JSON object (a Docker or OCI seccomp profile)");
  return json::to_string(*doc);
}

Status parse_security_opt(const std::string& v, SecurityOptions& o) {
  if (v == "no-new-privileges" || v == "no-new-privileges=true" || v == "no-new-privileges:true") {
    o.no_new_privileges = true;
  } else if (v == "no-new-privileges=false" || v == "no-new-privileges:false") {
    o.no_new_privileges = false;
  } else if (v == "seccomp=unconfined" || v == "seccomp:unconfined") {
    o.seccomp = "unconfined";
  } else if (v.rfind("seccomp=", 0) == 0 || v.rfind("seccomp:", 0) == 0) {
    BERTH_TRY(o.seccomp, read_profile(v.substr(8)));
  } else {
    return bad("--security-opt '" + v +
               "': expected seccomp=unconfined, seccomp=FILE or no-new-privileges[=true|false]");
  }
  return ok();
}

// PATH[:ACCESS]: the node's device node at PATH, given to the task at the same path.
Status parse_device(const std::string& v, SecurityOptions& o) {
  DeviceOption d;
  size_t colon = v.find(':');
  d.path = v.substr(0, colon);
  if (colon != std::string::npos) d.access = v.substr(colon + 1);
  struct stat st {};
  if (d.path.rfind("/dev/", 0) != 0 || ::stat(d.path.c_str(), &st) != 0 || !(S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)))
    return bad("--device '" + v + "': expected PATH[:ACCESS] naming a device node under /dev/ on this node");
  d.type = S_ISBLK(st.st_mode) ? 'b' : 'c';
  d.major = static_cast<long>(major(st.st_rdev));
  d.minor = static_cast<long>(minor(st.st_rdev));
  o.devices.push_back(std::move(d));
  return ok();
}

}  // namespace

bool SecurityOptions::any() const {
  return privileged || read_only || !cap_add.empty() || !cap_drop.empty() || !seccomp.empty() ||
         no_new_privileges.has_value() || !sysctls.empty() || !devices.empty();
}

Result<bool> parse_security_option(const std::string& option, const std::string& value, SecurityOptions& o) {
  if (option == "--cap-add") {
    o.cap_add.push_back(value);
  } else if (option == "--cap-drop") {
    o.cap_drop.push_back(value);
  } else if (option == "--security-opt") {
    BERTH_CHECK(parse_security_opt(value, o));
  } else if (option == "--sysctl") {
    size_t eq = value.find('=');
    if (eq == 0 || eq == std::string::npos) return bad("--sysctl expects NAME=VALUE, got '" + value + "'");
    o.sysctls[value.substr(0, eq)] = value.substr(eq + 1);
  } else if (option == "--device") {
    BERTH_CHECK(parse_device(value, o));
  } else {
    return false;
  }
  return true;
}

void write_security(json::JsonWriter& w, const SecurityOptions& o) {
  if (!o.any()) return;
  w.key("security").begin_object();
  if (o.privileged) w.kv("privileged", true);
  if (!o.cap_add.empty() || !o.cap_drop.empty()) {
    w.key("capabilities").begin_object();
    if (!o.cap_add.empty()) w.kv_strings("add", o.cap_add);
    if (!o.cap_drop.empty()) w.kv_strings("drop", o.cap_drop);
    w.end_object();
  }
  if (o.no_new_privileges) w.kv("no_new_privileges", *o.no_new_privileges);
  if (o.seccomp == "unconfined") w.kv("seccomp", "unconfined");
  else if (!o.seccomp.empty()) w.key("seccomp").raw(o.seccomp);
  if (o.read_only) w.kv("read_only_rootfs", true);
  if (!o.sysctls.empty()) w.kv_map("sysctls", o.sysctls);
  if (!o.devices.empty()) {
    w.key("devices").begin_array();
    for (const auto& d : o.devices)
      w.begin_object().kv("path", d.path).kv("type", std::string(1, d.type)).kv("major", d.major)
          .kv("minor", d.minor).kv("access", d.access).end_object();
    w.end_array();
  }
  w.end_object();
}

}  // namespace berth::cli
