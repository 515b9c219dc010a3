#include "cli/args.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/fs.hpp"
#include "common/json.hpp"

namespace berth::cli {
namespace {

TEST(ParseGlobal, OptionsBeforeTheCommand) {
  auto g = parse_global({"--socket", "/tmp/s.sock", "--json", "ps", "-a"});
  ASSERT_TRUE(g.has_value()) << g.error().message;
  EXPECT_EQ(g->socket, "/tmp/s.sock");
  EXPECT_TRUE(g->json);
  EXPECT_EQ(g->command, "ps");
  EXPECT_EQ(g->args, (Args{"-a"}));

  g = parse_global({"--socket=/x", "logs", "--json"});  // after the command: the command's
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->socket, "/x");
  EXPECT_FALSE(g->json);
  EXPECT_EQ(g->args, (Args{"--json"}));

  EXPECT_TRUE(parse_global({"--help"})->help);
  EXPECT_TRUE(parse_global({"help"})->help);
  EXPECT_FALSE(parse_global({}).has_value());
  auto bad = parse_global({"--frobnicate", "ps"});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, Code::kInvalidArgument);
  EXPECT_NE(bad.error().message.find("--frobnicate"), std::string::npos);
  EXPECT_FALSE(parse_global({"--socket"}).has_value());
}

TEST(ParseRun, AllOptionsAndTheCommandAfterDashDash) {
  auto lookup = [](const std::string& k) -> std::optional<std::string> {
    if (k == "HOME") return std::string("/root");
    return std::nullopt;
  };
  auto o = parse_run({"-d", "--name", "web-1", "--env", "A=1", "-e", "B=x=y", "--env", "HOME",
                      "--env", "UNSET", "--rootfs=/srv/rootfs", "--user", "1000:1000",
                      "--workdir", "/app", "--hostname", "h", "--label", "team=web", "--",
                      "/bin/sh", "-c", "echo hi"},
                     lookup);
  ASSERT_TRUE(o.has_value()) << o.error().message;
  EXPECT_TRUE(o->detach);
  EXPECT_EQ(o->name, "web-1");
  EXPECT_EQ(o->env, (std::map<std::string, std::string>{{"A", "1"}, {"B", "x=y"}, {"HOME", "/root"}}));
  EXPECT_EQ(o->rootfs, "/srv/rootfs");
  EXPECT_EQ(o->command, (Args{"/bin/sh", "-c", "echo hi"}));

  auto spec = json::parse(run_spec_json(*o));
  ASSERT_TRUE(spec.has_value());
  EXPECT_EQ(json::get_string(*spec, "name"), "web-1");
  EXPECT_EQ(json::get_string(*spec, "rootfs"), "/srv/rootfs");
  EXPECT_EQ(json::get_string(*spec, "user"), "1000:1000");
  EXPECT_EQ(json::get_string(*spec, "working_dir"), "/app");
  EXPECT_EQ(json::get_string(*spec, "hostname"), "h");
  EXPECT_EQ(json::get_string_array(*spec, "command"), o->command);
  EXPECT_EQ(json::get_string_map(*spec, "labels").at("team"), "web");
  EXPECT_EQ(json::get_string_map(*spec, "env").at("B"), "x=y");
}

TEST(ParseRun, CommandMayStartWithoutDashDashAndKeepsItsOwnFlags) {
  auto o = parse_run({"--rootfs", "/r", "/bin/ls", "-l", "--name", "x"});
  ASSERT_TRUE(o.has_value()) << o.error().message;
  EXPECT_EQ(o->command, (Args{"/bin/ls", "-l", "--name", "x"}));
  EXPECT_TRUE(o->name.empty());
  EXPECT_FALSE(o->detach);
  // Minimal spec: no empty optional fields.
  EXPECT_EQ(run_spec_json(*o), R"({"rootfs":"/r","command":["/bin/ls","-l","--name","x"]})");
}

TEST(ParseRun, ErrorsSayWhatToChange) {
  auto e = parse_run({"--rootfs", "/r"});
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().message.find("no command"), std::string::npos);
  e = parse_run({"--", "true"});
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().message.find("--rootfs"), std::string::npos);
  e = parse_run({"--rootfs", "/r", "--env", "=x", "--", "true"});
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().message.find("KEY=VALUE"), std::string::npos);
  e = parse_run({"--rootfs", "/r", "--bogus", "--", "true"});
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().message.find("--bogus"), std::string::npos);
  EXPECT_FALSE(parse_run({"--rootfs"}).has_value());
  EXPECT_FALSE(parse_run({"-d", "--rm", "--rootfs", "/r", "true"}).has_value());
}

TEST(ParseRun, ImageWithEntrypointFetchAndNoCommand) {
  auto o = parse_run({"--image", "registry.local/app:1.0", "--entrypoint", "/bin/sh", "--entrypoint=-c",
                      "--fetch", "https://h/tool.tar.gz,sha256=" + std::string(64, 'a') + ",extract,output=tools",
                      "--fetch", "file:///srv/run.sh,executable"});
  ASSERT_TRUE(o.has_value()) << o.error().message;
  EXPECT_EQ(o->image, "registry.local/app:1.0");
  EXPECT_TRUE(o->command.empty());
  ASSERT_TRUE(o->entrypoint.has_value());
  EXPECT_EQ(*o->entrypoint, (Args{"/bin/sh", "-c"}));
  ASSERT_EQ(o->fetch.size(), 2u);
  EXPECT_EQ(o->fetch[0], (FetchOption{"https://h/tool.tar.gz", std::string(64, 'a'), "tools", true, false}));
  EXPECT_EQ(o->fetch[1], (FetchOption{"file:///srv/run.sh", "", "", false, true}));
  EXPECT_EQ(run_spec_json(*o),
            R"({"image":"registry.local/app:1.0","entrypoint":["/bin/sh","-c"],"fetch":[)"
            R"({"uri":"https://h/tool.tar.gz","sha256":")" + std::string(64, 'a') +
                R"(","extract":true,"output":"tools"},{"uri":"file:///srv/run.sh","executable":true}]})");

  // The command after -- replaces the image's Cmd; --entrypoint "" clears its Entrypoint.
  o = parse_run({"--image", "r.local/a", "--entrypoint", "", "--", "echo", "hi"});
  ASSERT_TRUE(o.has_value()) << o.error().message;
  EXPECT_EQ(run_spec_json(*o), R"({"image":"r.local/a","command":["echo","hi"],"entrypoint":[]})");
  // Without --entrypoint the spec has none, so the image's stays.
  o = parse_run({"-d", "--image", "r.local/a"});
  ASSERT_TRUE(o.has_value()) << o.error().message;
  EXPECT_EQ(run_spec_json(*o), R"({"image":"r.local/a"})");
}

TEST(ParseRun, ExactlyOneRootAndEntrypointOnlyWithImage) {
  auto e = parse_run({"--rootfs", "/r", "--image", "r.local/a", "--", "true"});
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().message.find("either --rootfs or --image"), std::string::npos) << e.error().message;
  e = parse_run({"--", "true"});
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().message.find("--rootfs DIR or --image REF"), std::string::npos) << e.error().message;
  e = parse_run({"--rootfs", "/r", "--entrypoint", "/bin/sh", "--", "true"});
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().message.find("--entrypoint goes with --image"), std::string::npos) << e.error().message;
  EXPECT_FALSE(parse_run({"--image", "", "--", "true"}).has_value());
  EXPECT_FALSE(parse_run({"--image"}).has_value());
}

TEST(ParseFetch, ItemsAfterTheUri) {
  auto f = parse_fetch("http://h/x?a=1,output=x.bin");
  ASSERT_TRUE(f.has_value()) << f.error().message;
  EXPECT_EQ(f->uri, "http://h/x?a=1");
  EXPECT_EQ(f->output, "x.bin");
  f = parse_fetch("https://h/a%2Cb");
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->uri, "https://h/a%2Cb");

  auto e = parse_fetch("https://h/x,extrct");
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.error().code, Code::kInvalidArgument);
  EXPECT_NE(e.error().message.find("unknown item 'extrct'"), std::string::npos) << e.error().message;
  EXPECT_NE(e.error().message.find("%2C"), std::string::npos);
  e = parse_fetch("/srv/x.tar");
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().message.find("http://, https:// or file://"), std::string::npos) << e.error().message;
  EXPECT_FALSE(parse_fetch("").has_value());
  EXPECT_FALSE(parse_fetch("https://h/x,extract,extract").has_value());
  EXPECT_FALSE(parse_fetch("https://h/x,sha256=").has_value());
  EXPECT_FALSE(parse_fetch("https://h/x,output=").has_value());
  EXPECT_FALSE(parse_fetch("https://h/x,extract,executable").has_value());
  // A bad --fetch fails the run parse with the same message.
  auto r = parse_run({"--image", "r.local/a", "--fetch", "ftp://h/x"});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("ftp://h/x"), std::string::npos);
}

TEST(ParseImages, PullImagesRmiLoad) {
  EXPECT_EQ(parse_pull({"registry.local/app:1.0"})->ref, "registry.local/app:1.0");
  EXPECT_FALSE(parse_pull({}).has_value());
  EXPECT_FALSE(parse_pull({"a", "b"}).has_value());
  EXPECT_FALSE(parse_pull({"--all"}).has_value());

  EXPECT_TRUE(parse_images({"-q"})->quiet);
  EXPECT_FALSE(parse_images({})->quiet);
  EXPECT_FALSE(parse_images({"x"}).has_value());

  EXPECT_EQ(parse_rmi({"a", "b"})->refs, (Args{"a", "b"}));
  EXPECT_FALSE(parse_rmi({}).has_value());
  EXPECT_FALSE(parse_rmi({"-f", "a"}).has_value());

  auto l = parse_load({"/srv/layout", "--ref", "r.local/app:1", "--name", "v1"});
  ASSERT_TRUE(l.has_value()) << l.error().message;
  EXPECT_EQ(load_body(*l), R"({"path":"/srv/layout","ref":"r.local/app:1","ref_name":"v1"})");
  l = parse_load({"--ref=r.local/app:1", "/srv/layout"});
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(load_body(*l), R"({"path":"/srv/layout","ref":"r.local/app:1"})");
  auto e = parse_load({"/srv/layout"});
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().message.find("--ref REF"), std::string::npos);
  EXPECT_FALSE(parse_load({"--ref", "r.local/a"}).has_value());
  EXPECT_FALSE(parse_load({"a", "b", "--ref", "r.local/a"}).has_value());
}

TEST(Usage, MentionsTheImageCommands) {
  std::string u = usage();
  for (const char* s : {"pull REF", "images [-q]", "rmi REF...", "prune", "load DIR --ref REF",
                        "--image REF", "--entrypoint", "--fetch"})
    EXPECT_NE(u.find(s), std::string::npos) << s;
}

TEST(ParseLogs, FlagsTailAndTarget) {
  auto o = parse_logs({"-f", "--tail", "20", "--stderr", "web-1"});
  ASSERT_TRUE(o.has_value()) << o.error().message;
  EXPECT_TRUE(o->follow);
  EXPECT_TRUE(o->stderr_stream);
  EXPECT_EQ(o->tail, 20);
  EXPECT_EQ(o->id, "web-1");
  EXPECT_EQ(logs_target("web 1", "stderr", true, 20),
            "/v1/containers/web%201/logs?stream=stderr&follow=1&tail=20");
  EXPECT_EQ(logs_target("a", "stdout", false, std::nullopt), "/v1/containers/a/logs?stream=stdout");
  EXPECT_FALSE(parse_logs({"--tail", "-3", "x"}).has_value());
  EXPECT_FALSE(parse_logs({"--tail", "abc", "x"}).has_value());
  EXPECT_FALSE(parse_logs({}).has_value());
  EXPECT_FALSE(parse_logs({"a", "b"}).has_value());
}

TEST(ParseKill, SignalNamesNumbersAndGrace) {
  auto o = parse_kill({"-s", "KILL", "--grace", "0", "web"});
  ASSERT_TRUE(o.has_value()) << o.error().message;
  EXPECT_EQ(kill_body(*o), R"({"signal":"KILL","grace_period_s":0})");
  o = parse_kill({"--signal=9", "web"});
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(kill_body(*o), R"({"signal":9})");
  o = parse_kill({"web"});
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(kill_body(*o), "{}");
  EXPECT_FALSE(parse_kill({"-s", "TERM"}).has_value());
}

TEST(ParseExec, IdThenCommandWithOrWithoutDoubleDash) {
  auto o = parse_exec({"-u", "app", "-w", "/tmp", "-e", "A=1", "--timeout", "5", "web", "--", "sh", "-c", "id"});
  ASSERT_TRUE(o.has_value()) << o.error().message;
  EXPECT_EQ(o->id, "web");
  EXPECT_EQ(o->command, (Args{"sh", "-c", "id"}));
  EXPECT_EQ(exec_body(*o), R"({"cmd":["sh","-c","id"],"env":["A=1"],"user":"app","cwd":"/tmp","timeout_s":5})");
  // Without "--", the command starts after the id; its own options stay its own.
  o = parse_exec({"web", "ls", "-l", "/"});
  ASSERT_TRUE(o.has_value()) << o.error().message;
  EXPECT_EQ(o->command, (Args{"ls", "-l", "/"}));
  EXPECT_EQ(exec_body(*o), R"({"cmd":["ls","-l","/"]})");
  o = parse_exec({"--", "web", "-x"});
  ASSERT_TRUE(o.has_value()) << o.error().message;
  EXPECT_EQ(o->id, "web");
  EXPECT_EQ(o->command, (Args{"-x"}));
}

TEST(ParseExec, RefusesWhatItCannotRun) {
  auto none = parse_exec({});
  ASSERT_FALSE(none.has_value());
  EXPECT_NE(none.error().message.find("container id"), std::string::npos) << none.error().message;
  auto no_cmd = parse_exec({"web"});
  ASSERT_FALSE(no_cmd.has_value());
  EXPECT_NE(no_cmd.error().message.find("needs a command"), std::string::npos) << no_cmd.error().message;
  EXPECT_FALSE(parse_exec({"--timeout", "0", "web", "true"}).has_value());
  EXPECT_FALSE(parse_exec({"-e", "=x", "web", "true"}).has_value());
  EXPECT_FALSE(parse_exec({"--tty", "web", "true"}).has_value());
}

TEST(ParseOthers, PsRmEventsSingleId) {
  EXPECT_TRUE(parse_ps({"-a"})->all);
  EXPECT_FALSE(parse_ps({})->all);
  EXPECT_FALSE(parse_ps({"x"}).has_value());
  auto rm = parse_rm({"-f", "a", "b"});
  ASSERT_TRUE(rm.has_value());
  EXPECT_TRUE(rm->force);
  EXPECT_EQ(rm->ids, (Args{"a", "b"}));
  EXPECT_FALSE(parse_rm({"-f"}).has_value());
  EXPECT_EQ(parse_events({"--since", "12"})->since, 12u);
  EXPECT_FALSE(parse_events({})->since.has_value());
  EXPECT_FALSE(parse_events({"--since", "x"}).has_value());
  EXPECT_EQ(*parse_single_id("wait", {"abc"}), "abc");
  EXPECT_FALSE(parse_single_id("wait", {}).has_value());
  EXPECT_FALSE(parse_single_id("wait", {"a", "b"}).has_value());
  EXPECT_FALSE(parse_no_args("info", {"x"}).has_value());
}

}  // namespace
}  // namespace berth::cli

namespace berth::cli {
namespace {

TEST(ParseRun, NetworkModeGoesIntoTheSpec) {
  auto o = parse_run({"--network", "host", "--rootfs", "/r", "--", "x"});
  ASSERT_TRUE(o.has_value()) << o.error().message;
  EXPECT_EQ(run_spec_json(*o), R"({"rootfs":"/r","command":["x"],"network":{"mode":"host"}})");
  auto empty = parse_run({"--network=", "--rootfs", "/r", "--", "x"});
  ASSERT_FALSE(empty.has_value());
  EXPECT_NE(empty.error().message.find("--network needs a mode"), std::string::npos) << empty.error().message;
  auto cni = parse_run({"--network", "cni:calico", "--rootfs", "/r", "--", "x"});
  ASSERT_TRUE(cni.has_value()) << cni.error().message;
  EXPECT_EQ(run_spec_json(*cni), R"({"rootfs":"/r","command":["x"],"network":{"mode":"cni","name":"calico"}})");
  for (const char* nameless : {"cni", "cni:"}) {
    auto b = parse_run({"--network", nameless, "--rootfs", "/r", "--", "x"});
    ASSERT_FALSE(b.has_value()) << nameless;
    EXPECT_NE(b.error().message.find("--network cni:NAME"), std::string::npos) << b.error().message;
  }
}

TEST(ParseRun, PublishedPortsGoIntoTheSpec) {
  auto o = parse_run({"-p", "8080", "--publish", "21000:53/udp", "--network", "bridge", "--rootfs", "/r", "--", "x"});
  ASSERT_TRUE(o.has_value()) << o.error().message;
  EXPECT_EQ(run_spec_json(*o),
            R"({"rootfs":"/r","command":["x"],"network":{"mode":"bridge","ports":[)"
            R"({"container_port":8080,"host_port":0,"protocol":"tcp"},)"
            R"({"container_port":53,"host_port":21000,"protocol":"udp"}]}})");
  for (const char* bad : {"0", "x", "80/sctp", "70000", "-1:80", "80:", ":80", ""}) {
    auto b = parse_run({"-p", bad, "--rootfs", "/r", "--", "x"});
    ASSERT_FALSE(b.has_value()) << bad;
    EXPECT_NE(b.error().message.find("[HOST:]CONTAINER[/tcp|/udp]"), std::string::npos) << b.error().message;
  }
}

TEST(ParseRun, LimitsBecomeResources) {
  auto o = parse_run({"--cpus", "0.5", "-m", "256", "--pids", "64", "--disk", "100", "--max-runtime", "30",
                      "--image", "registry.local/app:1"});
  ASSERT_TRUE(o.has_value()) << o.error().message;
  auto doc = json::parse(run_spec_json(*o));
  ASSERT_TRUE(doc.has_value());
  EXPECT_DOUBLE_EQ((*doc)["resources"]["cpus"].GetDouble(), 0.5);
  EXPECT_EQ((*doc)["resources"]["memory_mb"].GetInt(), 256);
  EXPECT_EQ((*doc)["resources"]["pids"].GetInt(), 64);
  EXPECT_EQ((*doc)["resources"]["disk_mb"].GetInt(), 100);
  EXPECT_EQ((*doc)["max_runtime_s"].GetInt(), 30);
  auto bad = parse_run({"--cpus", "half", "--image", "registry.local/app:1"});
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("--cpus"), std::string::npos);
  EXPECT_FALSE(parse_run({"--memory", "-1", "--image", "registry.local/app:1"}).has_value());
  auto none = json::parse(run_spec_json(*parse_run({"--image", "registry.local/app:1"})));
  EXPECT_FALSE(none->HasMember("resources"));
}

TEST(ParseRun, SecurityFlagsBecomeTheSecurityObject) {
  std::string profile = ::testing::TempDir() + "/berth-cli-profile.json";
  ASSERT_TRUE(fs::write_file_atomic(profile, R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []})", 0644).has_value());
  auto o = parse_run({"--privileged", "--cap-add", "NET_ADMIN", "--cap-add=SYS_PTRACE", "--cap-drop", "MKNOD",
                      "--read-only", "--sysctl", "net.ipv4.ip_forward=1", "--security-opt", "no-new-privileges=false",
                      "--security-opt", "seccomp=" + profile, "--device", "/dev/null:rw", "--rootfs", "/r", "--", "sh"});
  ::unlink(profile.c_str());  // read by parse_run; nothing of the test stays in the temp dir
  ASSERT_TRUE(o.has_value()) << o.error().message;
  auto doc = json::parse(run_spec_json(*o));
  ASSERT_TRUE(doc.has_value());
  const auto& sec = (*doc)["security"];
  EXPECT_TRUE(sec["privileged"].GetBool());
  EXPECT_EQ(json::get_string_array(sec["capabilities"], "add"), (std::vector<std::string>{"NET_ADMIN", "SYS_PTRACE"}));
  EXPECT_EQ(json::get_string_array(sec["capabilities"], "drop"), (std::vector<std::string>{"MKNOD"}));
  EXPECT_TRUE(sec["read_only_rootfs"].GetBool());
  EXPECT_FALSE(sec["no_new_privileges"].GetBool());
  EXPECT_EQ(json::get_string(sec["sysctls"], "net.ipv4.ip_forward"), "1");
  EXPECT_EQ(json::get_string(sec["seccomp"], "defaultAction"), "SCMP_ACT_ALLOW");
  ASSERT_EQ(sec["devices"].Size(), 1u);
  EXPECT_EQ(json::get_string(sec["devices"][0], "type"), "c");
  EXPECT_EQ(sec["devices"][0]["major"].GetInt(), 1);
  EXPECT_EQ(sec["devices"][0]["minor"].GetInt(), 3);
  EXPECT_EQ(json::get_string(sec["devices"][0], "access"), "rw");
  auto unconfined = parse_run({"--security-opt", "seccomp=unconfined", "--rootfs", "/r", "--", "sh"});
  EXPECT_EQ(json::get_string((*json::parse(run_spec_json(*unconfined)))["security"], "seccomp"), "unconfined");
  auto none = json::parse(run_spec_json(*parse_run({"--rootfs", "/r", "--", "sh"})));
  EXPECT_FALSE(none->HasMember("security"));
}

TEST(ParseRun, SecurityFlagErrorsSayWhatToChange) {
  struct Case { Args args; const char* names; } cases[] = {
      {{"--security-opt", "apparmor=x"}, "seccomp=unconfined, seccomp=FILE or no-new-privileges"},
      {{"--security-opt", "seccomp=/no/such/profile.json"}, "/no/such/profile.json"},
      {{"--sysctl", "novalue"}, "NAME=VALUE"},
      {{"--device", "/etc/passwd"}, "device node under /dev/"},
  };
  for (auto& c : cases) {
    Args args = c.args;
    args.insert(args.end(), {"--rootfs", "/r", "--", "sh"});
    auto o = parse_run(args);
    ASSERT_FALSE(o.has_value()) << c.names;
    EXPECT_NE(o.error().message.find(c.names), std::string::npos) << o.error().message;
  }
  auto last = parse_run({"--rootfs", "/r", "--cap-add"});
  ASSERT_FALSE(last.has_value());
  EXPECT_NE(last.error().message.find("--cap-add needs a value"), std::string::npos) << last.error().message;
}

}  // namespace
}  // namespace berth::cli
