// berthd: the per-node agent. Reads its config, recovers its tasks, serves the API on a Unix
// socket and runs the event loop until SIGTERM/SIGINT. Running tasks are not touched when it
// stops: each lives under its own shim.
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cstring>
#include <iostream>

#include "agent/api/routes.hpp"
#include "agent/api/server.hpp"
#include "agent/config.hpp"
#include "agent/containers.hpp"
#include "agent/events.hpp"
#include "agent/images.hpp"
#include "agent/loop.hpp"
#include "common/fs.hpp"
#include "common/log.hpp"
#include "isolators/security/capabilities.hpp"
#include "isolators/security/seccomp_profile.hpp"

using namespace berth;

namespace {

constexpr const char* kDefaultConfig = "/etc/berth/agent.json";

void usage() {
  std::cerr << "usage: berthd [--config PATH] [--debug] | --print-seccomp-profile\n"
               "  --config PATH  agent config (default " << kDefaultConfig << "; every key has a default)\n"
               "  --debug        verbose logging\n"
               "  --print-seccomp-profile  print berth's default seccomp profile (OCI linux.seccomp form,\n"
               "                 for the default capabilities; docs/SECCOMP.md) and exit\n";
}

std::string self_dir() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  std::string p(buf, static_cast<size_t>(n));
  return p.substr(0, p.rfind('/'));
}

// One berthd per run dir: a second one would fight over the same tasks.
Result<UniqueFd> lock_run_dir(const std::string& run_dir) {
  BERTH_CHECK(fs::mkdir_p(run_dir, 0755));
  BERTH_TRY(UniqueFd fd, fs::open_at(AT_FDCWD, run_dir + "/berthd.lock", O_RDWR | O_CREAT, 0600));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0)
    return errno_error(errno == EWOULDBLOCK ? EBUSY : errno, "another berthd owns " + run_dir);
  return fd;
}

int run(const agent::Config& config) {
  auto lock = lock_run_dir(config.run_dir);
  if (!lock) {
    log::error(lock.error().message);
    return 1;
  }
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);

  agent::Loop loop;
  agent::EventBus events;
  auto images = agent::Images::open(config);
  if (!images) {
    log::error("startup: " + images.error().message);
    return 1;
  }
  agent::Containers containers(config, loop, events, images->get());
  if (auto st = loop.init(); !st) {
    log::error("event loop: " + st.error().message);
    return 1;
  }
  if (auto st = containers.init(); !st) {
    log::error("startup: " + st.error().message);
    return 1;
  }
  const auto& cg = containers.cgroups();
  std::string ctrls;
  for (const auto& c : cg.controllers) ctrls += " " + c;
  std::string missing;
  for (const char* c : {"cpu", "memory", "pids", "io"})
    if (!cg.controllers.count(c)) missing += std::string(" ") + c;
  log::info("cgroup2 at " + cg.mount + (cg.hybrid ? " (hybrid with cgroup v1)" : "") + ", berth root " + cg.root +
            ", controllers:" + (ctrls.empty() ? " none" : ctrls));
  if (!missing.empty())
    log::warn("controllers unavailable:" + missing + " — tasks asking for those limits will be refused");
  events.publish("agent.started", "\"pid\":" + std::to_string(::getpid()));
  if (auto st = containers.recover(); !st) {
    log::error("recovery: " + st.error().message);
    return 1;
  }

  api::Server server;
  api::register_routes(server, containers, events, **images);
  gid_t gid = static_cast<gid_t>(-1);
  if (!config.socket_group.empty()) {
    struct group* g = ::getgrnam(config.socket_group.c_str());
    if (!g) {
      log::error("socket_group '" + config.socket_group + "' does not exist");
      return 1;
    }
    gid = g->gr_gid;
  }
  auto dir = config.socket.substr(0, config.socket.rfind('/'));
  if (!dir.empty()) (void)fs::mkdir_p(dir, 0755);
  if (auto st = server.start(config.socket, 0660, gid); !st) {
    log::error("api: " + st.error().message);
    return 1;
  }
  log::info("serving the API on " + config.socket);
  // Waiters and streams hear of every change at once, not at the server's next beat.
  events.set_listener([&server] { server.wake(); });
  sd_notify(0, "READY=1");
  int sig = loop.run();
  sd_notify(0, "STOPPING=1");
  log::info(std::string("stopping") + (sig ? std::string(" on ") + strsignal(sig) : "") +
            "; tasks keep running under their shims");
  (*images)->cancel_pulls();  // the server's stop waits for its connections, pulls among them
  server.stop();
  events.set_listener(nullptr);  // the server goes before the bus
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path = kDefaultConfig;
  bool explicit_config = false;
  bool debug = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) {
      config_path = argv[++i];
      explicit_config = true;
    } else if (a == "--debug") {
      debug = true;
    } else if (a == "--print-seccomp-profile") {
      // berth's default profile for a task with the default capabilities, in OCI form.
      std::cout << isolators::to_oci_json(isolators::default_seccomp_profile(), isolators::default_capabilities())
                << "\n";
      return 0;
    } else if (a == "--help" || a == "-h") {
      usage();
      return 0;
    } else {
      std::cerr << "berthd: unknown argument '" << a << "'\n";
      usage();
      return 2;
    }
  }
  // Before any thread exists, so every thread inherits the mask and the loop gets the signals.
  agent::Loop::block_signals();
  ::signal(SIGPIPE, SIG_IGN);
  auto config = agent::load_config(config_path, explicit_config);
  log::init("berthd", debug || (config && config->debug));
  if (!config) {
    log::error(config.error().message);
    return 2;
  }
  if (config->shim_path.empty()) config->shim_path = self_dir() + "/berth-shim";
  if (::access(config->shim_path.c_str(), X_OK) != 0) {
    log::error("shim " + config->shim_path + " is not executable: " + std::strerror(errno));
    return 2;
  }
  return run(*config);
}
