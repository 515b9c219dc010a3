#include "cli/args.hpp"

#include <cerrno>
#include <cstdlib>

#include "cli/client.hpp"
#include "common/json.hpp"

namespace berth::cli {
namespace {

Error bad(const std::string& command, const std::string& what) {
  return make_error(Code::kInvalidArgument,
                    (command.empty() ? "" : command + ": ") + what +
                        " (see 'berth --help')");
}

// Walks a command's arguments: flags, options with a value ("--opt V", "--opt=V", "-o V").
class Reader {
 public:
  Reader(std::string command, const Args& args) : command_(std::move(command)), args_(args) {}

  bool done() const { return i_ >= args_.size(); }
  const std::string& peek() const { return args_[i_]; }
  void skip() { ++i_; }
  bool is_option() const { return !done() && peek().size() > 1 && peek()[0] == '-'; }

  bool flag(std::initializer_list<const char*> names) {
    for (const char* n : names)
      if (peek() == n) {
        ++i_;
        return true;
      }
    return false;
  }

  // Returns true (and fills `out`) when the current argument is one of `names`.
  Result<bool> value(std::initializer_list<const char*> names, std::string& out) {
    const std::string& a = peek();
    for (const char* n : names) {
      std::string name(n);
      if (a == name) {
        if (i_ + 1 >= args_.size()) return bad(command_, "option " + name + " needs a value");
        out = args_[i_ + 1];
        i_ += 2;
        return true;
      }
      if (name.rfind("--", 0) == 0 && a.rfind(name + "=", 0) == 0) {
        out = a.substr(name.size() + 1);
        ++i_;
        return true;
      }
    }
    return false;
  }

  Error unknown() const { return bad(command_, "unknown option '" + peek() + "'"); }
  const std::string& command() const { return command_; }

 private:
  std::string command_;
  const Args& args_;
  size_t i_ = 0;
};

// Expands to: if the option matched, run `then` with the value in `v`.
#define BERTH_OPT(reader, v, then, ...)                         \
  {                                                             \
    BERTH_TRY(bool matched_, (reader).value({__VA_ARGS__}, v)); \
    if (matched_) {                                   \
      then;                                           \
      continue;                                       \
    }                                                 \
  }

Result<long> parse_number(const std::string& command, const std::string& option,
                          const std::string& text, long min) {
  errno = 0;
  char* end = nullptr;
  long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || v < min)
    return bad(command, option + " expects a whole number >= " + std::to_string(min) +
                            ", got '" + text + "'");
  return v;
}

Status parse_key_value(const std::string& command, const std::string& option,
                       const std::string& text, std::map<std::string, std::string>& out,
                       const std::function<std::optional<std::string>(const std::string&)>& lookup) {
  auto eq = text.find('=');
  if (eq == 0 || text.empty()) return bad(command, option + " expects KEY=VALUE, got '" + text + "'");
  if (eq == std::string::npos) {
    if (!lookup) return bad(command, option + " expects KEY=VALUE, got '" + text + "'");
    auto v = lookup(text);
    if (v) out[text] = *v;  // like docker: a name not set in our environment is left out
    return ok();
  }
  out[text.substr(0, eq)] = text.substr(eq + 1);
  return ok();
}

}  // namespace

Result<GlobalOptions> parse_global(const Args& argv) {
  GlobalOptions g;
  Reader r("", argv);
  while (!r.done() && r.is_option()) {
    if (r.flag({"--json"})) { g.json = true; continue; }
    if (r.flag({"-h", "--help"})) { g.help = true; continue; }
    if (r.flag({"--version"})) { g.version = true; continue; }
    BERTH_OPT(r, g.socket, {
      if (g.socket.empty()) return bad("", "--socket needs a path");
    }, "--socket", "-H");
    return r.unknown();
  }
  if (r.done()) {
    if (!g.help && !g.version) return bad("", "no command given");
    return g;
  }
  g.command = r.peek();
  r.skip();
  while (!r.done()) {
    g.args.push_back(r.peek());
    r.skip();
  }
  if (g.command == "help") {
    g.help = true;
    g.command.clear();
  }
  return g;
}

Result<RunOptions> parse_run(
    const Args& args,
    const std::function<std::optional<std::string>(const std::string&)>& lookup_env) {
  RunOptions o;
  Reader r("run", args);
  std::string v;
  while (!r.done()) {
    if (r.peek() == "--") {
      r.skip();
      break;
    }
    if (!r.is_option()) break;  // the command starts here
    if (r.flag({"-d", "--detach"})) { o.detach = true; continue; }
    if (r.flag({"--rm"})) { o.remove = true; continue; }
    if (r.flag({"--privileged"})) { o.security.privileged = true; continue; }
    if (r.flag({"--read-only"})) { o.security.read_only = true; continue; }
    if (std::string option = r.peek().substr(0, r.peek().find('='));
        option == "--security-opt" || option == "--cap-add" || option == "--cap-drop" || option == "--sysctl" ||
        option == "--device") {
      BERTH_OPT(r, v, { BERTH_CHECK(parse_security_option(option, v, o.security)); }, "--security-opt", "--cap-add",
                "--cap-drop", "--sysctl", "--device");
    }
    BERTH_OPT(r, o.name, {}, "--name");
    BERTH_OPT(r, o.rootfs, {
      if (o.rootfs.empty()) return bad("run", "--rootfs needs a directory");
    }, "--rootfs");
    BERTH_OPT(r, o.image, {
      if (o.image.empty()) return bad("run", "--image needs a reference, e.g. registry.local/app:1.0");
    }, "--image");
    BERTH_OPT(r, v, {
      if (!o.entrypoint) o.entrypoint.emplace();
      if (!v.empty()) o.entrypoint->push_back(v);
    }, "--entrypoint");
    BERTH_OPT(r, v, {
      BERTH_TRY(FetchOption f, parse_fetch(v));
      o.fetch.push_back(std::move(f));
    }, "--fetch");
    BERTH_OPT(r, v, {
      char* end = nullptr;
      double c = std::strtod(v.c_str(), &end);
      if (v.empty() || *end != '\0' || !(c > 0)) return bad("run", "--cpus needs a positive number, e.g. 0.5");
      o.cpus = c;
    }, "--cpus");
    BERTH_OPT(r, v, { BERTH_TRY(o.memory_mb, parse_number("run", "--memory", v, 1)); }, "--memory", "-m");
    BERTH_OPT(r, v, { BERTH_TRY(o.pids, parse_number("run", "--pids", v, 1)); }, "--pids");
    BERTH_OPT(r, v, { BERTH_TRY(o.disk_mb, parse_number("run", "--disk", v, 1)); }, "--disk");
    BERTH_OPT(r, v, { BERTH_TRY(o.max_runtime_s, parse_number("run", "--max-runtime", v, 1)); }, "--max-runtime");
    BERTH_OPT(r, o.user, {}, "--user", "-u");
    BERTH_OPT(r, o.workdir, {}, "--workdir", "-w");
    BERTH_OPT(r, o.hostname, {}, "--hostname");
    BERTH_OPT(r, v, {
      BERTH_TRY(PortOption p, parse_port_option(v));
      o.ports.push_back(p);
    }, "--publish", "-p");
    BERTH_OPT(r, o.network, {
      if (o.network.empty()) return bad("run", "--network needs a mode: none, host, bridge or cni:NAME");
      if (o.network == "cni" || o.network == "cni:")
        return bad("run", "--network cni needs the CNI network's name: --network cni:NAME");
    }, "--network");
    BERTH_OPT(r, v, {
      BERTH_CHECK(parse_key_value("run", "--env", v, o.env, lookup_env));
    }, "--env", "-e");
    BERTH_OPT(r, v, {
      BERTH_CHECK(parse_key_value("run", "--label", v, o.labels, nullptr));
    }, "--label", "-l");
    return r.unknown();
  }
  while (!r.done()) {
    o.command.push_back(r.peek());
    r.skip();
  }
  if (o.rootfs.empty() && o.image.empty())
    return bad("run", "give the task a root: --rootfs DIR or --image REF");
  if (!o.rootfs.empty() && !o.image.empty())
    return bad("run", "give either --rootfs or --image, not both");
  if (!o.rootfs.empty() && o.command.empty())
    return bad("run", "no command given; usage: berth run [OPTIONS] --rootfs DIR -- CMD [ARG...]");
  if (!o.rootfs.empty() && o.entrypoint)
    return bad("run", "--entrypoint goes with --image; with --rootfs the command is the whole argv");
  if (o.detach && o.remove) return bad("run", "--rm cannot be combined with -d");
  return o;
}

Result<FetchOption> parse_fetch(const std::string& text) {
  const std::string kExpected =
      "expected URI[,sha256=HEX][,extract][,executable][,output=NAME] (write a comma in the URI as %2C)";
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t comma; (comma = text.find(',', start)) != std::string::npos; start = comma + 1)
    parts.push_back(text.substr(start, comma - start));
  parts.push_back(text.substr(start));
  FetchOption f;
  f.uri = parts[0];
  if (f.uri.rfind("http://", 0) != 0 && f.uri.rfind("https://", 0) != 0 && f.uri.rfind("file://", 0) != 0)
    return bad("run", "--fetch '" + text + "': the URI must start with http://, https:// or file://; " + kExpected);
  bool seen_sha = false, seen_output = false;
  for (size_t i = 1; i < parts.size(); ++i) {
    const std::string& p = parts[i];
    auto twice = [&] { return bad("run", "--fetch '" + text + "': '" + p + "' given twice"); };
    if (p == "extract") {
      if (f.extract) return twice();
      f.extract = true;
    } else if (p == "executable") {
      if (f.executable) return twice();
      f.executable = true;
    } else if (p.rfind("sha256=", 0) == 0) {
      if (seen_sha) return twice();
      seen_sha = true;
      f.sha256 = p.substr(7);
      if (f.sha256.empty()) return bad("run", "--fetch '" + text + "': sha256= needs 64 hex digits");
    } else if (p.rfind("output=", 0) == 0) {
      if (seen_output) return twice();
      seen_output = true;
      f.output = p.substr(7);
      if (f.output.empty()) return bad("run", "--fetch '" + text + "': output= needs a name");
    } else {
      return bad("run", "--fetch '" + text + "': unknown item '" + p + "'; " + kExpected);
    }
  }
  if (f.extract && f.executable)
    return bad("run", "--fetch '" + text + "': executable applies to placed files, not to extracted archives");
  return f;
}

std::string run_spec_json(const RunOptions& o) {
  json::JsonWriter w;
  w.begin_object();
  if (!o.name.empty()) w.kv("name", o.name);
  if (!o.rootfs.empty()) w.kv("rootfs", o.rootfs);
  if (!o.image.empty()) w.kv("image", o.image);
  if (!o.command.empty()) w.kv_strings("command", o.command);
  if (o.entrypoint) w.kv_strings("entrypoint", *o.entrypoint);
  if (!o.fetch.empty()) {
    w.key("fetch").begin_array();
    for (const auto& f : o.fetch) {
      w.begin_object().kv("uri", f.uri);
      if (!f.sha256.empty()) w.kv("sha256", f.sha256);
      if (f.extract) w.kv("extract", true);
      if (f.executable) w.kv("executable", true);
      if (!f.output.empty()) w.kv("output", f.output);
      w.end_object();
    }
    w.end_array();
  }
  if (!o.env.empty()) w.kv_map("env", o.env);
  if (!o.user.empty()) w.kv("user", o.user);
  if (!o.workdir.empty()) w.kv("working_dir", o.workdir);
  if (!o.hostname.empty()) w.kv("hostname", o.hostname);
  if (!o.labels.empty()) w.kv_map("labels", o.labels);
  if (!o.network.empty() || !o.ports.empty()) {
    w.key("network").begin_object();
    if (o.network.rfind("cni:", 0) == 0)
      w.kv("mode", "cni").kv("name", o.network.substr(4));
    else if (!o.network.empty())
      w.kv("mode", o.network);
    if (!o.ports.empty()) {
      w.key("ports").begin_array();
      for (const auto& p : o.ports)
        w.begin_object().kv("container_port", p.container_port).kv("host_port", p.host_port)
            .kv("protocol", p.protocol).end_object();
      w.end_array();
    }
    w.end_object();
  }
  if (o.cpus || o.memory_mb || o.pids || o.disk_mb) {
    w.key("resources").begin_object();
    if (o.cpus) w.kv("cpus", *o.cpus);
    if (o.memory_mb) w.kv("memory_mb", *o.memory_mb);
    if (o.pids) w.kv("pids", *o.pids);
    if (o.disk_mb) w.kv("disk_mb", *o.disk_mb);
    w.end_object();
  }
  if (o.max_runtime_s) w.kv("max_runtime_s", *o.max_runtime_s);
  write_security(w, o.security);
  w.end_object();
  return w.str();
}

Result<PortOption> parse_port_option(const std::string& text) {
  auto wrong = [&] {
    return bad("run", "-p '" + text + "': write [HOST:]CONTAINER[/tcp|/udp] with ports 1-65535 (HOST 0: any free "
                      "one), e.g. -p 8080 or -p 20080:80/tcp");
  };
  PortOption p;
  std::string ports = text;
  if (size_t slash = text.find('/'); slash != std::string::npos) {
    p.protocol = text.substr(slash + 1);
    ports = text.substr(0, slash);
    if (p.protocol != "tcp" && p.protocol != "udp") return wrong();
  }
  size_t colon = ports.find(':');
  auto number = [](const std::string& s, long min) -> std::optional<long> {
    char* end = nullptr;
    long n = s.empty() ? -1 : std::strtol(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0' || n < min || n > 65535) return std::nullopt;
    return n;
  };
  auto container = number(colon == std::string::npos ? ports : ports.substr(colon + 1), 1);
  auto host = colon == std::string::npos ? std::optional<long>(0) : number(ports.substr(0, colon), 0);
  if (!container || !host) return wrong();
  p.container_port = *container;
  p.host_port = *host;
  return p;
}

Result<PsOptions> parse_ps(const Args& args) {
  PsOptions o;
  Reader r("ps", args);
  while (!r.done()) {
    if (r.flag({"-a", "--all"})) { o.all = true; continue; }
    if (r.flag({"-q", "--quiet"})) { o.quiet = true; continue; }
    if (!r.is_option()) return bad("ps", "unexpected argument '" + r.peek() + "'");
    return r.unknown();
  }
  return o;
}

Result<LogsOptions> parse_logs(const Args& args) {
  LogsOptions o;
  Reader r("logs", args);
  std::string v;
  while (!r.done()) {
    if (!r.is_option()) {
      if (!o.id.empty()) return bad("logs", "takes one container, got '" + o.id + "' and '" + r.peek() + "'");
      o.id = r.peek();
      r.skip();
      continue;
    }
    if (r.flag({"-f", "--follow"})) { o.follow = true; continue; }
    if (r.flag({"--stderr"})) { o.stderr_stream = true; continue; }
    BERTH_OPT(r, v, {
      BERTH_TRY(long n, parse_number("logs", "--tail", v, 0));
      o.tail = n;
    }, "--tail", "-n");
    return r.unknown();
  }
  if (o.id.empty()) return bad("logs", "needs a container id or name");
  return o;
}

std::string logs_target(const std::string& id, const std::string& stream, bool follow,
                        std::optional<long> tail) {
  std::string t = "/v1/containers/" + url_encode(id) + "/logs?stream=" + stream;
  if (follow) t += "&follow=1";
  if (tail) t += "&tail=" + std::to_string(*tail);
  return t;
}

Result<KillOptions> parse_kill(const Args& args) {
  KillOptions o;
  Reader r("kill", args);
  std::string v;
  while (!r.done()) {
    if (!r.is_option()) {
      if (!o.id.empty()) return bad("kill", "takes one container, got '" + o.id + "' and '" + r.peek() + "'");
      o.id = r.peek();
      r.skip();
      continue;
    }
    BERTH_OPT(r, o.signal, {
      if (o.signal.empty()) return bad("kill", "--signal needs a name or number");
    }, "--signal", "-s");
    BERTH_OPT(r, v, {
      BERTH_TRY(long n, parse_number("kill", "--grace", v, 0));
      o.grace_s = n;
    }, "--grace", "-t");
    return r.unknown();
  }
  if (o.id.empty()) return bad("kill", "needs a container id or name");
  return o;
}

std::string kill_body(const KillOptions& o) {
  json::JsonWriter w;
  w.begin_object();
  if (!o.signal.empty()) {
    bool numeric = o.signal.find_first_not_of("0123456789") == std::string::npos;
    if (numeric) w.kv("signal", std::strtol(o.signal.c_str(), nullptr, 10));
    else w.kv("signal", o.signal);
  }
  if (o.grace_s) w.kv("grace_period_s", *o.grace_s);
  w.end_object();
  return w.str();
}

Result<ExecOptions> parse_exec(
    const Args& args, const std::function<std::optional<std::string>(const std::string&)>& lookup_env) {
  ExecOptions o;
  Reader r("exec", args);
  std::string v;
  while (!r.done()) {
    if (r.peek() == "--") {
      r.skip();
      break;
    }
    if (!r.is_option()) {
      if (!o.id.empty()) break;  // the command starts here
      o.id = r.peek();
      r.skip();
      continue;
    }
    BERTH_OPT(r, o.user, {}, "--user", "-u");
    BERTH_OPT(r, o.workdir, {}, "--workdir", "-w");
    BERTH_OPT(r, v, { BERTH_CHECK(parse_key_value("exec", "--env", v, o.env, lookup_env)); }, "--env", "-e");
    BERTH_OPT(r, v, { BERTH_TRY(o.timeout_s, parse_number("exec", "--timeout", v, 1)); }, "--timeout");
    return r.unknown();
  }
  if (o.id.empty() && !r.done()) {
    o.id = r.peek();
    r.skip();
  }
  while (!r.done()) {
    o.command.push_back(r.peek());
    r.skip();
  }
  if (o.id.empty()) return bad("exec", "needs a container id or name, then the command: exec ID -- CMD...");
  if (o.command.empty()) return bad("exec", "needs a command to run after the container: exec " + o.id + " -- CMD...");
  return o;
}

std::string exec_body(const ExecOptions& o) {
  json::JsonWriter w;
  w.begin_object().kv_strings("cmd", o.command);
  if (!o.env.empty()) {
    w.key("env").begin_array();
    for (const auto& [k, val] : o.env) w.value(k + "=" + val);
    w.end_array();
  }
  if (!o.user.empty()) w.kv("user", o.user);
  if (!o.workdir.empty()) w.kv("cwd", o.workdir);
  if (o.timeout_s) w.kv("timeout_s", *o.timeout_s);
  return w.end_object().str();
}

Result<RmOptions> parse_rm(const Args& args) {
  RmOptions o;
  Reader r("rm", args);
  while (!r.done()) {
    if (!r.is_option()) {
      o.ids.push_back(r.peek());
      r.skip();
      continue;
    }
    if (r.flag({"-f", "--force"})) { o.force = true; continue; }
    return r.unknown();
  }
  if (o.ids.empty()) return bad("rm", "needs at least one container id or name");
  return o;
}

Result<PullOptions> parse_pull(const Args& args) {
  Reader r("pull", args);
  for (; !r.done(); r.skip())
    if (r.is_option()) return r.unknown();
  if (args.size() != 1 || args[0].empty())
    return bad("pull", "takes exactly one image reference, e.g. registry.local/app:1.0");
  return PullOptions{args[0]};
}

Result<ImagesOptions> parse_images(const Args& args) {
  ImagesOptions o;
  Reader r("images", args);
  while (!r.done()) {
    if (r.flag({"-q", "--quiet"})) { o.quiet = true; continue; }
    if (!r.is_option()) return bad("images", "unexpected argument '" + r.peek() + "'");
    return r.unknown();
  }
  return o;
}

Result<RmiOptions> parse_rmi(const Args& args) {
  RmiOptions o;
  Reader r("rmi", args);
  while (!r.done()) {
    if (r.is_option()) return r.unknown();
    o.refs.push_back(r.peek());
    r.skip();
  }
  if (o.refs.empty()) return bad("rmi", "needs at least one image reference");
  return o;
}

Result<LoadOptions> parse_load(const Args& args) {
  LoadOptions o;
  Reader r("load", args);
  while (!r.done()) {
    if (!r.is_option()) {
      if (!o.dir.empty()) return bad("load", "takes one directory, got '" + o.dir + "' and '" + r.peek() + "'");
      o.dir = r.peek();
      r.skip();
      continue;
    }
    BERTH_OPT(r, o.ref, {}, "--ref");
    BERTH_OPT(r, o.ref_name, {}, "--name");
    return r.unknown();
  }
  if (o.dir.empty()) return bad("load", "needs an OCI image layout directory");
  if (o.ref.empty()) return bad("load", "needs --ref REF, the reference to record the image under");
  return o;
}

std::string load_body(const LoadOptions& o) {
  json::JsonWriter w;
  w.begin_object().kv("path", o.dir).kv("ref", o.ref);
  if (!o.ref_name.empty()) w.kv("ref_name", o.ref_name);
  w.end_object();
  return w.str();
}

Result<EventsOptions> parse_events(const Args& args) {
  EventsOptions o;
  Reader r("events", args);
  std::string v;
  while (!r.done()) {
    BERTH_OPT(r, v, {
      BERTH_TRY(long n, parse_number("events", "--since", v, 0));
      o.since = static_cast<unsigned long long>(n);
    }, "--since");
    if (!r.is_option()) return bad("events", "unexpected argument '" + r.peek() + "'");
    return r.unknown();
  }
  return o;
}

Result<std::string> parse_single_id(const std::string& command, const Args& args) {
  if (args.size() != 1 || args[0].empty() || args[0][0] == '-')
    return bad(command, "takes exactly one container id or name");
  return args[0];
}

Status parse_no_args(const std::string& command, const Args& args) {
  if (!args.empty()) return bad(command, "takes no arguments, got '" + args[0] + "'");
  return ok();
}

std::string usage() {
  return
      "usage: berth [--socket PATH] [--json] COMMAND [ARGS...]\n"
      "\n"
      "Talks to berthd over its Unix socket ($BERTH_SOCKET or /run/berth/berth.sock).\n"
      "\n"
      "commands:\n"
      "  run [-d] [--rm] [--name N] [--env K=V]... [--label K=V]... --rootfs DIR\n"
      "      [--user U] [--workdir D] [--hostname H] [--network none|host|bridge|cni:NAME] [--fetch SPEC]...\n"
      "      [-p [HOST:]CONTAINER[/tcp|udp]]...\n"
      "      [--cpus N] [--memory MB] [--pids N] [--disk MB] [--max-runtime S]\n"
      "      [--privileged] [--cap-add CAP]... [--cap-drop CAP]... [--read-only] [--sysctl K=V]...\n"
      "      [--security-opt seccomp=unconfined|seccomp=FILE|no-new-privileges=false]\n"
      "      [--device PATH[:ACCESS]]... -- CMD [ARG...]\n"
      "  run [OPTIONS] --image REF [--entrypoint ARG]... [-- CMD [ARG...]]\n"
      "                        start a task; attached: print its output and exit with its code.\n"
      "                        With --image, CMD replaces the image's Cmd and --entrypoint (one\n"
      "                        argument each; \"\" clears it) its Entrypoint. --fetch places\n"
      "                        URI[,sha256=HEX][,extract][,executable][,output=NAME] in /mnt/sandbox\n"
      "  ps [-a] [-q]          list running (-a: all) containers\n"
      "  inspect ID            show a container as JSON\n"
      "  logs [-f] [--tail N] [--stderr] ID\n"
      "                        print a task's stdout (or stderr)\n"
      "  kill [-s SIG] [--grace S] ID\n"
      "                        signal a task; SIGKILL everything after S seconds\n"
      "  wait ID               wait for a task to end; exit with its code\n"
      "  exec [-u USER] [-w DIR] [-e K=V]... [--timeout S] ID [--] CMD...\n"
      "                        run CMD inside a running task, with its confinement; print its\n"
      "                        output and exit with its code\n"
      "  rm [-f] ID...         remove ended containers (-f: kill running ones first)\n"
      "  events [--since SEQ]  stream agent events\n"
      "  info                  show the node: cgroup mode, controllers, capacity\n"
      "  pull REF              pull an image (REF: host[:port]/repo[:tag][@sha256:HEX])\n"
      "  images [-q]           list images (-q: refs only)\n"
      "  rmi REF...            remove images no container uses\n"
      "  prune                 remove layers and blobs no image needs\n"
      "  load DIR --ref REF [--name REF_NAME]\n"
      "                        import an OCI image layout directory (--name picks one of its\n"
      "                        images by its org.opencontainers.image.ref.name)\n"
      "  endpoints             list every port mapping: task, port name, protocol, host and\n"
      "                        container port (what a discovery system publishes)\n"
      "  stats [--no-stream] [--interval S]\n"
      "                        usage next to limits of running tasks, live like top\n"
      "\n"
      "--json prints the API's JSON instead of tables.\n";
}

}  // namespace berth::cli
