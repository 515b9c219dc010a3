// launch_latency: time "request to exit observed" of /bin/true for berth and its peers, in one
// run, in alternating blocks so machine noise hits every runtime alike.
//
//   berth*     (one mode per --berth NAME=SOCKET, e.g. berthds with different state layouts)
//              POST /v1/containers, then GET /v1/containers/{id}/wait, each a fresh connection
//              to berthd's Unix socket (what a scheduler does); the DELETE that follows is not
//              timed. Split: "launch" = POST sent → 201 read, "wait" = the rest.
//   crun       `crun --root R run --bundle B id` (cgroupfs manager, v1 hierarchies + cgroup2)
//   crun-nocg  `crun --root R --cgroup-manager=disabled run --bundle B id`
//   runc       `runc --root R run --bundle B id`
//   --crun M=B another crun mode M with bundle B (e.g. crun's default spec plus berth's seccomp
//              profile); --security M=JSON gives berth mode M's launch spec that "security",
//              --resources M=JSON its "resources" (limits).
//   --runc M=B another runc mode M with bundle B, `runc run` as above: the span ends when runc
//              exits, after it has torn the container down (cgroups, state) itself.
//   --network M=JSON      berth mode M's launch spec gets that "network" (e.g. bridge, cni).
//   --script M=PATH       mode M runs `PATH up ID` (timed) and then `PATH down ID` (not timed):
//              e.g. a netns prepared by CNI plugins, then crun in it.
//   --runc-detached M=B   `runc --root R run --detach --pid-file F --bundle B id`, then the
//              container's init is reaped (this process is a child subreaper, so the init is
//              reparented to it when runc exits): the span is start → exit observed, as for
//              berth; the `runc delete` that follows is not timed.
//
// crun 1.8 refuses any run on a hybrid host whose cgroup2 has a controller ("cgroups in hybrid
// mode not supported", even with the disabled manager). With --mask-cgroup2-controllers this
// process moves into a private mount namespace and bind-mounts an empty file over
// /sys/fs/cgroup/unified/cgroup.controllers, so only its own children see none; the host's
// mounts are untouched and the namespace ends with the process.
//
// --pause-ms N sleeps N ms after each launch and its cleanup, untimed: the kernel's asynchronous
// teardown of the previous task (its namespaces) then no longer overlaps the next launch.
//
// Output: one line per sample to --samples (mode, iteration, total µs, launch µs, wait µs), and a
// summary per mode on stdout. Standalone: libc + libstdc++ only, so it measures no berth code.
#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

extern char** environ;

namespace {

struct Options {
  std::map<std::string, std::string> berths;  // mode name → berthd socket
  std::map<std::string, std::string> security;  // berth mode name → its spec's "security" object
  std::map<std::string, std::string> cruns;     // extra crun mode name → its bundle
  std::map<std::string, std::string> resources;  // berth mode name → its spec's "resources" object
  std::map<std::string, std::string> runcs;      // extra runc mode name → its bundle (runc run)
  std::map<std::string, std::string> runcs_detached;  // runc mode name → its bundle (run --detach)
  std::map<std::string, std::string> networks;  // berth mode name → its spec's "network" object
  std::map<std::string, std::string> scripts;   // mode name → a script: "up ID" timed, "down ID" not
  std::string rootfs, bundle, crun_root, runc_root, samples;
  std::vector<std::string> modes;  // default: every --berth, then crun, crun-nocg, runc
  int iterations = 200, warmup = 20, block = 10;
  int pause_ms = 0;  // untimed gap after each launch (and its cleanup)
  bool mask = false;
};

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "launch_latency: %s\n", what.c_str());
  std::exit(1);
}

int64_t now_us() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

// One HTTP/1.1 exchange on a new connection; returns the status, fills body.
int http(const std::string& socket_path, const std::string& method, const std::string& target,
         const std::string& body, std::string* reply_body, int64_t* sent_us = nullptr) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket: " + std::string(std::strerror(errno)));
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", socket_path.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    die("connect " + socket_path + ": " + std::strerror(errno));
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
  if (!body.empty())
    req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  if (sent_us) *sent_us = now_us();
  for (size_t off = 0; off < req.size();) {
    ssize_t n = ::write(fd, req.data() + off, req.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("write: " + std::string(std::strerror(errno)));
    off += static_cast<size_t>(n);
  }
  std::string in;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    in.append(buf, static_cast<size_t>(n));
    // Stop at the end of a Content-Length body without waiting for the close.
    auto hdr_end = in.find("\r\n\r\n");
    if (hdr_end != std::string::npos) {
      auto cl = in.find("Content-Length: ");
      if (cl == std::string::npos) cl = in.find("content-length: ");
      if (cl != std::string::npos && cl < hdr_end) {
        size_t len = std::strtoul(in.c_str() + cl + 16, nullptr, 10);
        if (in.size() >= hdr_end + 4 + len) break;
      }
    }
  }
  ::close(fd);
  if (in.compare(0, 9, "HTTP/1.1 ") != 0 && in.compare(0, 9, "HTTP/1.0 ") != 0) die("bad reply: " + in);
  int status = std::atoi(in.c_str() + 9);
  auto hdr_end = in.find("\r\n\r\n");
  if (reply_body) *reply_body = hdr_end == std::string::npos ? "" : in.substr(hdr_end + 4);
  return status;
}

std::string json_field(const std::string& body, const std::string& key) {
  auto k = body.find("\"" + key + "\":");
  if (k == std::string::npos) return "";
  auto q = body.find('"', k + key.size() + 3);
  if (q == std::string::npos) return "";
  auto e = body.find('"', q + 1);
  return body.substr(q + 1, e - q - 1);
}

struct Sample {
  int64_t total_us, launch_us, wait_us;
};

Sample run_berth(const Options& o, const std::string& mode, const std::string& socket) {
  std::string spec = "{\"rootfs\": \"" + o.rootfs + "\", \"command\": [\"/bin/true\"]";
  if (auto s = o.security.find(mode); s != o.security.end()) spec += ", \"security\": " + s->second;
  if (auto r = o.resources.find(mode); r != o.resources.end()) spec += ", \"resources\": " + r->second;
  if (auto n = o.networks.find(mode); n != o.networks.end()) spec += ", \"network\": " + n->second;
  spec += "}";
  std::string body;
  int64_t t0 = 0;
  int st = http(socket, "POST", "/v1/containers", spec, &body, &t0);
  int64_t t1 = now_us();
  if (st != 201) die("launch: HTTP " + std::to_string(st) + " " + body);
  std::string id = json_field(body, "id");
  st = http(socket, "GET", "/v1/containers/" + id + "/wait?timeout_s=60", "", &body);
  int64_t t2 = now_us();
  if (st != 200) die("wait: HTTP " + std::to_string(st) + " " + body);
  if (body.find("\"exit_code\":0") == std::string::npos) die("task did not exit 0: " + body);
  st = http(socket, "DELETE", "/v1/containers/" + id, "", &body);
  if (st != 204) die("delete: HTTP " + std::to_string(st) + " " + body);
  return {t2 - t0, t1 - t0, t2 - t1};
}

Sample run_cmd(const std::vector<std::string>& argv) {
  std::vector<char*> av;
  for (const auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
  av.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  int64_t t0 = now_us();
  pid_t pid;
  int rc = ::posix_spawn(&pid, av[0], &fa, nullptr, av.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) die("spawn " + argv[0] + ": " + std::strerror(rc));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  int64_t t1 = now_us();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string cmd;
    for (const auto& a : argv) cmd += a + " ";
    die("failed (status " + std::to_string(status) + "): " + cmd);
  }
  return {t1 - t0, 0, 0};
}

// runc run --detach, then reap the container's init (reparented to this subreaper when runc
// exits); the delete that follows is not timed.
Sample run_runc_detached(const Options& o, const std::string& bundle, const std::string& id) {
  std::string pid_file = o.runc_root + "/" + id + ".pid";
  int64_t t0 = now_us();
  run_cmd({"/usr/sbin/runc", "--root", o.runc_root, "run", "--detach", "--pid-file", pid_file, "--bundle", bundle, id});
  FILE* f = std::fopen(pid_file.c_str(), "r");
  if (!f) die("runc wrote no pid file " + pid_file);
  long init = 0;
  if (std::fscanf(f, "%ld", &init) != 1 || init <= 0) die("bad pid file " + pid_file);
  std::fclose(f);
  int status = 0;
  for (;;) {
    pid_t got = ::waitpid(-1, &status, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) die("waitpid for container init " + std::to_string(init) + ": " + std::strerror(errno));
    if (got == static_cast<pid_t>(init)) break;  // anything else reaped here: runc's leftovers
  }
  int64_t t1 = now_us();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die("container init status " + std::to_string(status));
  run_cmd({"/usr/sbin/runc", "--root", o.runc_root, "delete", id});
  ::unlink(pid_file.c_str());
  return {t1 - t0, 0, 0};
}

Sample run_mode(const Options& o, const std::string& mode, int seq) {
  std::string id = "bench-" + std::to_string(::getpid()) + "-" + std::to_string(seq);
  if (auto b = o.berths.find(mode); b != o.berths.end()) return run_berth(o, mode, b->second);
  if (auto c = o.cruns.find(mode); c != o.cruns.end())
    return run_cmd({"/usr/bin/crun", "--root", o.crun_root, "run", "--bundle", c->second, id});
  if (auto r = o.runcs.find(mode); r != o.runcs.end())
    return run_cmd({"/usr/sbin/runc", "--root", o.runc_root, "run", "--bundle", r->second, id});
  if (auto r = o.runcs_detached.find(mode); r != o.runcs_detached.end()) return run_runc_detached(o, r->second, id);
  if (auto sc = o.scripts.find(mode); sc != o.scripts.end()) {
    Sample up = run_cmd({sc->second, "up", id});
    run_cmd({sc->second, "down", id});
    return up;
  }
  if (mode == "crun")
    return run_cmd({"/usr/bin/crun", "--root", o.crun_root, "run", "--bundle", o.bundle, id});
  if (mode == "crun-nocg")
    return run_cmd({"/usr/bin/crun", "--root", o.crun_root, "--cgroup-manager=disabled", "run", "--bundle",
                    o.bundle, id});
  if (mode == "runc") return run_cmd({"/usr/sbin/runc", "--root", o.runc_root, "run", "--bundle", o.bundle, id});
  die("unknown mode " + mode);
}

void mask_cgroup2_controllers(const std::string& empty_file) {
  if (::unshare(CLONE_NEWNS) != 0) die("unshare(CLONE_NEWNS): " + std::string(std::strerror(errno)));
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) die("make / private");
  int fd = ::open(empty_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) die("create " + empty_file);
  ::close(fd);
  if (::mount(empty_file.c_str(), "/sys/fs/cgroup/unified/cgroup.controllers", nullptr, MS_BIND, nullptr) != 0)
    die("bind over cgroup.controllers: " + std::string(std::strerror(errno)));
}

double pct(std::vector<int64_t> v, double p) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0;
  // Nearest-rank percentile.
  size_t rank = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size()) + 0.999999);
  rank = std::clamp<size_t>(rank, 1, v.size());
  return static_cast<double>(v[rank - 1]) / 1000.0;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t b = 0;
  for (;;) {
    auto e = s.find(',', b);
    out.push_back(s.substr(b, e - b));
    if (e == std::string::npos) return out;
    b = e + 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::string mask_file;
  std::vector<std::string> berth_order;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--berth") {
      std::string v = next();
      auto eq = v.find('=');
      if (eq == std::string::npos || v.compare(0, 5, "berth") != 0) die("--berth wants berth<suffix>=<socket>");
      o.berths[v.substr(0, eq)] = v.substr(eq + 1);
      berth_order.push_back(v.substr(0, eq));
    }
    else if (a == "--security" || a == "--crun" || a == "--resources" || a == "--runc" || a == "--runc-detached" ||
             a == "--network" || a == "--script") {
      // --security MODE=JSON: the berth mode's spec gets "security": JSON (a mode may reuse
      // another's socket: --berth berth-priv=S --security 'berth-priv={"privileged": true}').
      // --crun MODE=BUNDLE: one more crun mode, with its own bundle.
      std::string v = next();
      auto eq = v.find('=');
      if (eq == std::string::npos) die(a + " wants MODE=VALUE");
      auto& into = a == "--security"  ? o.security
                   : a == "--crun"    ? o.cruns
                   : a == "--runc"    ? o.runcs
                   : a == "--resources" ? o.resources
                   : a == "--network" ? o.networks
                   : a == "--script"  ? o.scripts
                                      : o.runcs_detached;
      into[v.substr(0, eq)] = v.substr(eq + 1);
    }
    else if (a == "--rootfs") o.rootfs = next();
    else if (a == "--bundle") o.bundle = next();
    else if (a == "--crun-root") o.crun_root = next();
    else if (a == "--runc-root") o.runc_root = next();
    else if (a == "--samples") o.samples = next();
    else if (a == "--modes") o.modes = split(next());
    else if (a == "--iterations") o.iterations = std::atoi(next().c_str());
    else if (a == "--warmup") o.warmup = std::atoi(next().c_str());
    else if (a == "--block") o.block = std::atoi(next().c_str());
    else if (a == "--pause-ms") o.pause_ms = std::atoi(next().c_str());
    else if (a == "--mask-cgroup2-controllers") mask_file = next();
    else die("unknown flag " + a);
  }
  if (o.modes.empty()) {
    o.modes = berth_order;
    for (const char* m : {"crun", "crun-nocg", "runc"}) o.modes.push_back(m);
  }
  if (!mask_file.empty()) mask_cgroup2_controllers(mask_file);
  if (!o.runcs_detached.empty() && ::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
    die("prctl(PR_SET_CHILD_SUBREAPER): " + std::string(std::strerror(errno)));

  int seq = 0;
  for (const auto& m : o.modes)
    for (int i = 0; i < o.warmup; ++i) run_mode(o, m, seq++);

  std::map<std::string, std::vector<Sample>> samples;
  FILE* out = o.samples.empty() ? nullptr : std::fopen(o.samples.c_str(), "w");
  if (out) std::fprintf(out, "mode\titeration\ttotal_us\tlaunch_us\twait_us\n");
  // Alternating blocks; the order of modes rotates each round so none always runs first.
  size_t round = 0;
  for (int done = 0; done < o.iterations; done += o.block, ++round) {
    int n = std::min(o.block, o.iterations - done);
    for (size_t k = 0; k < o.modes.size(); ++k) {
      const std::string& m = o.modes[(k + round) % o.modes.size()];
      for (int i = 0; i < n; ++i) {
        Sample s = run_mode(o, m, seq++);
        if (o.pause_ms > 0) ::usleep(static_cast<useconds_t>(o.pause_ms) * 1000);
        samples[m].push_back(s);
        if (out) std::fprintf(out, "%s\t%d\t%lld\t%lld\t%lld\n", m.c_str(), done + i, (long long)s.total_us,
                              (long long)s.launch_us, (long long)s.wait_us);
      }
    }
  }
  if (out) std::fclose(out);

  std::printf("%-20s %6s %10s %10s %10s %10s %10s\n", "mode", "n", "median_ms", "p90_ms", "p99_ms", "mean_ms", "min_ms");
  for (const auto& m : o.modes) {
    std::vector<int64_t> total;
    int64_t sum = 0;
    for (const auto& s : samples[m]) total.push_back(s.total_us), sum += s.total_us;
    double mean = total.empty() ? 0 : static_cast<double>(sum) / static_cast<double>(total.size()) / 1000.0;
    std::printf("%-20s %6zu %10.2f %10.2f %10.2f %10.2f %10.2f\n", m.c_str(), total.size(), pct(total, 50),
                pct(total, 90), pct(total, 99), mean, pct(total, 0));
    if (m.rfind("berth", 0) == 0) {
      std::vector<int64_t> l, w;
      for (const auto& s : samples[m]) l.push_back(s.launch_us), w.push_back(s.wait_us);
      std::printf("%-20s %6s %10.2f %10.2f %10.2f   (POST → 201)\n", "  launch", "", pct(l, 50), pct(l, 90), pct(l, 99));
      std::printf("%-20s %6s %10.2f %10.2f %10.2f   (201 → wait reply)\n", "  wait", "", pct(w, 50), pct(w, 90),
                  pct(w, 99));
    }
  }
  // Ratios of berth's full path to each peer (below 1.00: berth is faster).
  for (const auto& b : o.modes) {
    if (b.rfind("berth", 0) != 0) continue;
    std::vector<int64_t> bt;
    for (const auto& s : samples[b]) bt.push_back(s.total_us);
    for (const auto& m : o.modes) {
      if (m.rfind("berth", 0) == 0) continue;
      std::vector<int64_t> t;
      for (const auto& s : samples[m]) t.push_back(s.total_us);
      std::printf("ratio %s/%-10s median %.2f  p99 %.2f\n", b.c_str(), m.c_str(), pct(bt, 50) / pct(t, 50),
                  pct(bt, 99) / pct(t, 99));
    }
  }
  return 0;
}
