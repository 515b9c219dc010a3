// pull_bench — the issue-3 pull benchmark driver: berth's POST /v1/images/pull side by side
// with peer commands, interleaved, as medians. libc only, no berth code (like launch_latency).
//
// Modes (any number, each given once):
//   --berth NAME SOCKET REF cold|warm REPS   POST /v1/images/pull {"ref": REF} on a fresh
//        connection, timed from the request's first byte to the final {"status":"pulled"} line.
//        cold: untimed set-up removes the image (DELETE /v1/images/REF) and prunes, so the store
//        is empty. warm: untimed set-up pulls once, so everything is present.
//   --cmd NAME REPS SETUP TIMED              `/bin/sh -c SETUP` untimed, then `/bin/sh -c TIMED`
//        timed (REPS times after one set-up). Exit status must be 0.
// A round runs every mode once (set-up, then REPS timed runs), the order rotating by one mode
// per round so that noise and cache state hit all modes alike. `--between CMD` runs (untimed)
// after every mode's runs in a round — `sync`, so no mode pays for another's dirty pages.
// --warmup W rounds are not recorded. Samples go to --samples FILE (mode, round, rep, µs); for
// berth cold pulls the per-layer times from the progress lines go to --layers FILE (mode, round,
// layer, size, t_first_progress_us, t_fetching_us, t_done_us, t_end_us). CPU time per sample:
// berthd's (with --berthd-pid, from /proc, 10 ms ticks) or the command's and its waited-for
// descendants' (wait4 rusage); the registry's own CPU is in neither.
#include <fcntl.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <string>
#include <vector>

extern char** environ;

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "pull_bench: %s\n", what.c_str());
  std::exit(1);
}

int64_t now_us() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

int connect_unix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket: " + std::string(std::strerror(errno)));
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    die("connect " + path + ": " + std::strerror(errno));
  return fd;
}

void write_all(int fd, const std::string& s) {
  for (size_t off = 0; off < s.size();) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("write: " + std::string(std::strerror(errno)));
    off += static_cast<size_t>(n);
  }
}

std::string request(const std::string& method, const std::string& target, const std::string& body) {
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
  if (!body.empty()) req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  return req + "\r\n" + body;
}

// A whole exchange, reply read to the close; returns the status.
int http(const std::string& sock, const std::string& method, const std::string& target, const std::string& body,
         std::string* reply = nullptr) {
  int fd = connect_unix(sock);
  write_all(fd, request(method, target, body));
  std::string in;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    in.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  if (in.size() < 12) die("short reply to " + method + " " + target);
  if (reply) *reply = in;
  return std::atoi(in.c_str() + 9);
}

std::string url_encode(const std::string& s) {
  std::string out;
  char hex[4];
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      std::snprintf(hex, sizeof hex, "%%%02X", c);
      out += hex;
    }
  }
  return out;
}

struct LayerTimes {
  uint64_t size = 0;
  int64_t first = -1, fetching = -1, done = -1;
};

// Field "key": number or "string" in one JSON line (the route's own compact output).
std::string field(const std::string& line, const std::string& key) {
  auto k = line.find("\"" + key + "\":");
  if (k == std::string::npos) return "";
  size_t v = k + key.size() + 3;
  while (v < line.size() && line[v] == ' ') ++v;
  if (v < line.size() && line[v] == '"') {
    auto e = line.find('"', v + 1);
    return line.substr(v + 1, e - v - 1);
  }
  size_t e = v;
  while (e < line.size() && line[e] != ',' && line[e] != '}') ++e;
  return line.substr(v, e - v);
}

// POST /v1/images/pull; returns µs from the first request byte to the final status line.
int64_t berth_pull(const std::string& sock, const std::string& ref, std::map<int, LayerTimes>* layers) {
  int fd = connect_unix(sock);
  std::string req = request("POST", "/v1/images/pull", "{\"ref\": \"" + ref + "\"}");
  int64_t t0 = now_us();
  write_all(fd, req);
  std::string raw, body, line_buf;
  bool headers_done = false, chunked = false;
  size_t pos = 0;  // parse position in raw (after headers)
  char buf[65536];
  std::string final_line;
  int64_t t_end = -1;
  while (t_end < 0) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    int64_t t = now_us();
    raw.append(buf, static_cast<size_t>(n));
    if (!headers_done) {
      auto h = raw.find("\r\n\r\n");
      if (h == std::string::npos) continue;
      if (raw.compare(0, 12, "HTTP/1.1 200") != 0) die("pull: " + raw);
      std::string hdr = raw.substr(0, h);
      for (auto& c : hdr) c = static_cast<char>(std::tolower(c));
      chunked = hdr.find("transfer-encoding: chunked") != std::string::npos;
      headers_done = true;
      pos = h + 4;
    }
    // De-chunk what is complete.
    for (;;) {
      if (!chunked) {
        body.append(raw, pos, std::string::npos);
        pos = raw.size();
        break;
      }
      auto crlf = raw.find("\r\n", pos);
      if (crlf == std::string::npos) break;
      size_t len = std::strtoul(raw.c_str() + pos, nullptr, 16);
      if (raw.size() < crlf + 2 + len + 2) break;
      body.append(raw, crlf + 2, len);
      pos = crlf + 2 + len + 2;
      if (len == 0) break;
    }
    for (size_t nl; (nl = body.find('\n')) != std::string::npos;) {
      std::string line = body.substr(0, nl);
      body.erase(0, nl + 1);
      if (line.find("\"status\"") != std::string::npos && line.find("\"layer\"") == std::string::npos) {
        final_line = line;
        t_end = t;
        break;
      }
      if (layers) {
        int idx = std::atoi(field(line, "layer").c_str());
        auto& l = (*layers)[idx];
        l.size = std::strtoull(field(line, "size").c_str(), nullptr, 10);
        if (l.first < 0) l.first = t - t0;
        std::string st = field(line, "state");
        if (st == "fetching" && l.fetching < 0) l.fetching = t - t0;
        if (st == "done" || st == "present") l.done = t - t0;
      }
    }
  }
  ::close(fd);
  if (t_end < 0) die("pull: no final status line: " + raw.substr(0, 2000));
  if (field(final_line, "status") != "pulled") die("pull failed: " + final_line);
  return t_end - t0;
}

void berth_remove_image(const std::string& sock, const std::string& ref) {
  std::string reply;
  int st = http(sock, "DELETE", "/v1/images/" + url_encode(ref), "", &reply);
  if (st != 204 && st != 200 && st != 404) die("DELETE image: " + reply);
  st = http(sock, "POST", "/v1/images/prune", "{}", &reply);
  if (st != 200) die("prune: " + reply);
}

// CPU time (user + system) of a process so far, in µs (10 ms resolution).
int64_t proc_cpu_us(pid_t pid) {
  if (pid <= 0) return 0;
  FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (!f) return 0;
  char buf[4096];
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = 0;
  const char* p = std::strrchr(buf, ')');
  unsigned long long ut = 0, st = 0;
  // after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
  if (!p || std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return 0;
  return static_cast<int64_t>((ut + st) * 1000000ULL / static_cast<unsigned long long>(::sysconf(_SC_CLK_TCK)));
}

// Runs `sh -c cmd`; returns the CPU time (user + system) of it and every descendant it waited for.
int64_t sh(const std::string& cmd) {
  if (cmd.empty()) return 0;
  const char* argv[] = {"/bin/sh", "-c", cmd.c_str(), nullptr};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid;
  int rc = ::posix_spawn(&pid, "/bin/sh", &fa, nullptr, const_cast<char* const*>(argv), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) die("spawn sh: " + std::string(std::strerror(rc)));
  int status = 0;
  struct rusage ru {};
  while (::wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    die("failed (status " + std::to_string(status) + "): " + cmd);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

struct Mode {
  std::string name;
  bool berth = false;
  std::string sock, ref;
  bool cold = true;
  int reps = 1;
  std::string setup, timed;
};

double median(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  size_t h = v.size() / 2;
  return v.size() % 2 ? static_cast<double>(v[h]) : (static_cast<double>(v[h - 1]) + static_cast<double>(v[h])) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<Mode> modes;
  int iterations = 5, warmup = 1;
  std::string between, samples_path, layers_path;
  pid_t berthd_pid = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto need = [&](int k) {
      if (i + k >= argc) die("missing arguments after " + a);
    };
    if (a == "--berth") {
      need(5);
      Mode m;
      m.berth = true;
      m.name = argv[++i];
      m.sock = argv[++i];
      m.ref = argv[++i];
      m.cold = std::string(argv[++i]) == "cold";
      m.reps = std::atoi(argv[++i]);
      modes.push_back(m);
    } else if (a == "--cmd") {
      need(4);
      Mode m;
      m.name = argv[++i];
      m.reps = std::atoi(argv[++i]);
      m.setup = argv[++i];
      m.timed = argv[++i];
      modes.push_back(m);
    } else if (a == "--iterations") {
      need(1);
      iterations = std::atoi(argv[++i]);
    } else if (a == "--warmup") {
      need(1);
      warmup = std::atoi(argv[++i]);
    } else if (a == "--between") {
      need(1);
      between = argv[++i];
    } else if (a == "--berthd-pid") {
      need(1);
      berthd_pid = std::atoi(argv[++i]);
    } else if (a == "--samples") {
      need(1);
      samples_path = argv[++i];
    } else if (a == "--layers") {
      need(1);
      layers_path = argv[++i];
    } else {
      die("unknown argument " + a);
    }
  }
  if (modes.empty()) die("no modes");
  FILE* samples = samples_path.empty() ? nullptr : std::fopen(samples_path.c_str(), "w");
  FILE* layers = layers_path.empty() ? nullptr : std::fopen(layers_path.c_str(), "w");
  std::map<std::string, std::vector<int64_t>> results, cpu;
  const size_t n = modes.size();
  for (int round = -warmup; round < iterations; ++round) {
    for (size_t k = 0; k < n; ++k) {
      const Mode& m = modes[(k + static_cast<size_t>(round + warmup)) % n];
      if (m.berth) {
        if (m.cold)
          berth_remove_image(m.sock, m.ref);
        else
          (void)berth_pull(m.sock, m.ref, nullptr);
      } else {
        sh(m.setup);
      }
      sh(between);
      for (int r = 0; r < m.reps; ++r) {
        int64_t us, cpu_us;
        std::map<int, LayerTimes> lt;
        if (m.berth) {
          int64_t c0 = proc_cpu_us(berthd_pid);
          us = berth_pull(m.sock, m.ref, m.cold ? &lt : nullptr);
          cpu_us = proc_cpu_us(berthd_pid) - c0;
        } else {
          int64_t t0 = now_us();
          cpu_us = sh(m.timed);
          us = now_us() - t0;
        }
        if (round < 0) continue;
        results[m.name].push_back(us);
        cpu[m.name].push_back(cpu_us);
        if (samples)
          std::fprintf(samples, "%s\t%d\t%d\t%lld\t%lld\n", m.name.c_str(), round, r, static_cast<long long>(us),
                       static_cast<long long>(cpu_us));
        if (layers)
          for (const auto& [idx, l] : lt)
            std::fprintf(layers, "%s\t%d\t%d\t%llu\t%lld\t%lld\t%lld\t%lld\n", m.name.c_str(), round, idx,
                         static_cast<unsigned long long>(l.size), static_cast<long long>(l.first),
                         static_cast<long long>(l.fetching), static_cast<long long>(l.done),
                         static_cast<long long>(us));
      }
      sh(between);
    }
    std::fprintf(stderr, "pull_bench: round %d of %d done\n", round + 1, iterations);
  }
  if (samples) std::fclose(samples);
  if (layers) std::fclose(layers);
  std::printf("%-22s %5s %10s %10s %10s %12s\n", "mode", "n", "median_ms", "min_ms", "max_ms", "cpu_ms(med)");
  for (const auto& m : modes) {
    auto& v = results[m.name];
    if (v.empty()) continue;
    std::printf("%-22s %5zu %10.2f %10.2f %10.2f %12.0f\n", m.name.c_str(), v.size(), median(v) / 1000.0,
                static_cast<double>(*std::min_element(v.begin(), v.end())) / 1000.0,
                static_cast<double>(*std::max_element(v.begin(), v.end())) / 1000.0, median(cpu[m.name]) / 1000.0);
  }
  return 0;
}
