#include "sandbox/oci_spec.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

#include "common/fs.hpp"

namespace berth::sandbox {
namespace {

const char* kFull = R"({
  "ociVersion": "1.0.2",
  "process": {"terminal": false, "args": ["/bin/sh", "-c", "echo hi"], "env": ["PATH=/bin", "A=b=c"],
              "cwd": "/app", "user": {"uid": 1000, "gid": 1000, "additionalGids": [50, 60]},
              "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 1024}],
              "noNewPrivileges": true, "oomScoreAdj": 100},
  "root": {"path": "/srv/rootfs", "readonly": true},
  "hostname": "web-1",
  "mounts": [{"destination": "/mnt/sandbox", "type": "bind", "source": "/var/lib/berth/s/1", "options": ["rbind", "rw"]},
             {"destination": "/data", "source": "/srv/data", "options": ["rbind", "ro"]},
             {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["size=64m", "nosuid"]}],
  "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "uts"}, {"type": "network", "path": "/run/netns/t1"}],
            "maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"],
            "sysctl": {"net.ipv4.ip_unprivileged_port_start": "0"}},
  "hooks": {"createRuntime": [{"path": "/usr/lib/berth/net-hook", "args": ["net-hook", "up"], "env": ["A=1"], "timeout": 5}]},
  "annotations": {"berth.overlay.lowerdir": "/l", "team": "web", "berth.seccomp.bpf": "06000000ff7f000006000000ff7f0000"}
})";

TEST(OciSpec, ParsesEveryField) {
  auto r = parse_oci_spec(kFull);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  const OciSpec& s = *r;
  EXPECT_EQ(s.oci_version, "1.0.2");
  EXPECT_EQ(s.args, (std::vector<std::string>{"/bin/sh", "-c", "echo hi"}));
  EXPECT_EQ(s.env, (std::vector<std::string>{"PATH=/bin", "A=b=c"}));
  EXPECT_EQ(s.cwd, "/app");
  EXPECT_EQ(s.user.uid, 1000u);
  EXPECT_EQ(s.user.gid, 1000u);
  EXPECT_EQ(s.user.additional_gids, (std::vector<gid_t>{50, 60}));
  ASSERT_EQ(s.rlimits.size(), 1u);
  EXPECT_EQ(s.rlimits[0].type, "RLIMIT_NOFILE");
  EXPECT_EQ(s.rlimits[0].soft, 1024u);
  EXPECT_EQ(s.rlimits[0].hard, 4096u);
  EXPECT_TRUE(s.no_new_privileges);
  EXPECT_EQ(s.oom_score_adj, 100);
  EXPECT_EQ(s.root_path, "/srv/rootfs");
  EXPECT_TRUE(s.root_readonly);
  EXPECT_EQ(s.hostname, "web-1");
  ASSERT_EQ(s.mounts.size(), 3u);
  EXPECT_EQ(s.mounts[1].destination, "/data");
  EXPECT_EQ(s.mounts[1].type, "");
  EXPECT_EQ(s.mounts[1].options, (std::vector<std::string>{"rbind", "ro"}));
  EXPECT_EQ(s.namespaces, (std::vector<OciNamespace>{{"pid", ""}, {"mount", ""}, {"uts", ""}, {"network", "/run/netns/t1"}}));
  EXPECT_EQ(s.sysctls.at("net.ipv4.ip_unprivileged_port_start"), "0");
  ASSERT_EQ(s.create_runtime_hooks.size(), 1u);
  EXPECT_EQ(s.create_runtime_hooks[0], (OciHook{"/usr/lib/berth/net-hook", {"net-hook", "up"}, {"A=1"}, 5}));
  ASSERT_EQ(s.seccomp_bpf.size(), 16u);  // two instructions: RET ALLOW, RET ALLOW
  EXPECT_EQ(s.seccomp_bpf[0], 0x06);
  EXPECT_EQ(s.annotations.count("berth.seccomp.bpf"), 0u);  // carried in seccomp_bpf
  EXPECT_EQ(s.masked_paths, (std::vector<std::string>{"/proc/kcore"}));
  EXPECT_EQ(s.readonly_paths, (std::vector<std::string>{"/proc/sys"}));
  EXPECT_EQ(s.annotations.at("team"), "web");
}

TEST(OciSpec, RoundTripsThroughJson) {
  auto first = parse_oci_spec(kFull);
  ASSERT_TRUE(first.has_value());
  std::string text = to_json(*first);
  auto second = parse_oci_spec(text);
  ASSERT_TRUE(second.has_value()) << second.error().message << "\n" << text;
  EXPECT_EQ(to_json(*second), text);
  EXPECT_EQ(second->args, first->args);
  EXPECT_EQ(second->mounts.size(), first->mounts.size());
  EXPECT_EQ(second->mounts[2].source, "tmpfs");
  EXPECT_EQ(second->user.additional_gids, first->user.additional_gids);
  EXPECT_EQ(second->rlimits[0].hard, 4096u);
  EXPECT_EQ(second->annotations, first->annotations);
}

// berthd hands the shim its program as a raw file: the spec names it, load_seccomp_file reads it.
TEST(OciSpec, ASeccompProgramFileRoundTripsAndIsReadRaw) {
  char dir[] = "/tmp/berth-ocispec-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string d = dir;
  const std::string allow_twice("\x06\x00\x00\x00\x00\x00\xff\x7f\x06\x00\x00\x00\x00\x00\xff\x7f", 16);
  ASSERT_TRUE(fs::write_file_atomic(d + "/seccomp.bpf", allow_twice, 0600).has_value());
  ASSERT_TRUE(fs::write_file_atomic(d + "/odd.bpf", std::string(7, 'x'), 0600).has_value());
  ASSERT_TRUE(fs::write_file_atomic(d + "/empty.bpf", "", 0600).has_value());
  ASSERT_EQ(::symlink((d + "/seccomp.bpf").c_str(), (d + "/link.bpf").c_str()), 0);

  OciSpec spec = parse_oci_spec(R"({"ociVersion": "1.0.2", "process": {"args": ["x"]}, "root": {"path": "/r"}})").value();
  spec.seccomp_bpf_file = d + "/seccomp.bpf";
  std::string text = to_json(spec);
  EXPECT_NE(text.find("\"berth.seccomp.bpf-file\":\"" + d + "/seccomp.bpf\""), std::string::npos) << text;
  EXPECT_EQ(text.find("\"berth.seccomp.bpf\""), std::string::npos) << text;  // no hex beside it
  auto back = parse_oci_spec(text);
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(back->seccomp_bpf_file, d + "/seccomp.bpf");
  EXPECT_TRUE(back->seccomp_bpf.empty());
  EXPECT_EQ(back->annotations.count("berth.seccomp.bpf-file"), 0u);
  ASSERT_TRUE(load_seccomp_file(*back).has_value());
  EXPECT_EQ(std::string(back->seccomp_bpf.begin(), back->seccomp_bpf.end()), allow_twice);

  for (const char* bad : {"/odd.bpf", "/empty.bpf", "/link.bpf", "/missing.bpf"}) {
    OciSpec s = spec;
    s.seccomp_bpf_file = d + bad;
    auto loaded = load_seccomp_file(s);
    ASSERT_FALSE(loaded.has_value()) << bad;
    EXPECT_NE(loaded.error().message.find(d + bad), std::string::npos) << loaded.error().message;
  }
  OciSpec none = spec;
  none.seccomp_bpf_file.clear();
  EXPECT_TRUE(load_seccomp_file(none).has_value());  // nothing to read
  EXPECT_TRUE(none.seccomp_bpf.empty());
  (void)fs::remove_tree(d);
}

TEST(OciSpec, UserNamespaceMapsRoundTrip) {
  auto r = parse_oci_spec(R"({"ociVersion": "1.0.2", "process": {"args": ["x"]}, "root": {"path": "/r"},
      "linux": {"namespaces": [{"type": "user"}, {"type": "mount"}],
                "uidMappings": [{"containerID": 0, "hostID": 3000000000, "size": 65536}],
                "gidMappings": [{"containerID": 0, "hostID": 3000000000, "size": 65536}]}})");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_TRUE(has_namespace(*r, "user"));
  EXPECT_EQ(r->uid_mappings, (std::vector<OciIdMapping>{{0, 3000000000u, 65536}}));
  auto again = parse_oci_spec(to_json(*r));
  ASSERT_TRUE(again.has_value()) << again.error().message;
  EXPECT_EQ(again->gid_mappings, r->gid_mappings);
}

TEST(OciSpec, RoundTripsCapabilitiesAndAWritableSys) {
  auto r = parse_oci_spec(R"({"ociVersion": "1.0.2", "process": {"args": ["x"], "capabilities": {
      "bounding": ["CAP_CHOWN", "CAP_NET_ADMIN", "CAP_CHECKPOINT_RESTORE"], "effective": ["CAP_CHOWN"],
      "permitted": ["CAP_CHOWN", "CAP_NET_ADMIN"], "inheritable": ["CAP_NET_ADMIN"], "ambient": ["CAP_NET_ADMIN"]}},
      "root": {"path": "/r"}, "annotations": {"berth.sys.readonly": "false"}})");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_TRUE(r->capabilities.has_value());
  EXPECT_EQ(r->capabilities->bounding, (1ULL << 0) | (1ULL << 12) | (1ULL << 40));
  EXPECT_EQ(r->capabilities->effective, 1ULL << 0);
  EXPECT_EQ(r->capabilities->ambient, 1ULL << 12);
  EXPECT_FALSE(r->sys_readonly);
  EXPECT_TRUE(r->annotations.empty());
  auto again = parse_oci_spec(to_json(*r));
  ASSERT_TRUE(again.has_value()) << again.error().message;
  EXPECT_EQ(again->capabilities, r->capabilities);
  EXPECT_FALSE(again->sys_readonly);
}

TEST(OciSpec, CapabilitiesForAUserAsRuncGivesThem) {
  CapabilitySet set = (1ULL << 0) | (1ULL << 13);
  EXPECT_EQ(capabilities_for(set, false, 0), (OciCapabilities{set, set, set, 0, 0}));
  EXPECT_EQ(capabilities_for(set, false, 1000), (OciCapabilities{set, 0, 0, 0, 0}));
  EXPECT_EQ(capabilities_for(set, true, 1000), (OciCapabilities{set, set, set, set, set}));
}

TEST(OciSpec, DeviceNodesRoundTrip) {
  auto r = parse_oci_spec(R"({"ociVersion": "1.0.2", "process": {"args": ["true"]}, "root": {"path": "/r"},
      "linux": {"devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229},
                            {"path": "/dev/net/tun", "type": "c", "major": 10, "minor": 200, "fileMode": 384}]}})");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(r->devices.size(), 2u);
  EXPECT_EQ(r->devices[0], (OciDevice{"/dev/fuse", 'c', 10, 229, 0666}));
  EXPECT_EQ(r->devices[1].file_mode, 0600u);
  auto again = parse_oci_spec(to_json(*r));
  ASSERT_TRUE(again.has_value()) << again.error().message;
  EXPECT_EQ(again->devices, r->devices);
}

TEST(OciSpec, MinimalSpecGetsDefaults) {
  auto r = parse_oci_spec(R"({"ociVersion": "1.0.0", "process": {"args": ["true"]}, "root": {"path": "/r"}})");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->cwd, "/");
  EXPECT_EQ(r->user.uid, 0u);
  EXPECT_EQ(r->oom_score_adj, 0);
  EXPECT_FALSE(r->root_readonly);
  EXPECT_TRUE(r->sys_readonly);
  EXPECT_FALSE(r->capabilities.has_value());
  // The default struct serializes into something parse accepts.
  EXPECT_TRUE(parse_oci_spec(to_json(*r)).has_value());
}

struct Rejection {
  const char* json;
  const char* message_part;
};

class OciSpecRejects : public ::testing::TestWithParam<Rejection> {};

TEST_P(OciSpecRejects, WithAClearMessage) {
  auto r = parse_oci_spec(GetParam().json);
  ASSERT_FALSE(r.has_value()) << GetParam().json;
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  EXPECT_NE(r.error().message.find(GetParam().message_part), std::string::npos) << r.error().message;
}

#define SPEC(process, rest) \
  R"({"ociVersion": "1.0.2", "process": )" process R"(, "root": {"path": "/r"})" rest "}"

INSTANTIATE_TEST_SUITE_P(
    Cases, OciSpecRejects,
    ::testing::Values(
        Rejection{"not json", "malformed JSON"},
        Rejection{"[]", "expected an object"},
        Rejection{SPEC(R"({"args": ["x"]})", R"(, "hooks": {"prestart": []})"), "hooks.prestart: unsupported field"},
        Rejection{SPEC(R"({"args": ["x"], "capabilities": {"bounding": ["CAP_NOPE"]}})", ""), "not a capability name"},
        Rejection{SPEC(R"({"args": ["x"], "capabilities": {"bounding": ["CHOWN"]}})", ""), "not a capability name"},
        Rejection{SPEC(R"({"args": ["x"], "capabilities": {"permitted": ["CAP_CHOWN"], "ambient": ["CAP_CHOWN"]}})", ""),
                  "ambient capability must also be permitted and inheritable"},
        Rejection{SPEC(R"({"args": ["x"], "capabilities": {"effective": ["CAP_CHOWN"]}})", ""), "effective capability must also be permitted"},
        Rejection{SPEC(R"({"args": ["x"], "capabilities": {"prohibited": []}})", ""), "process.capabilities.prohibited: unsupported field"},
        Rejection{SPEC(R"({"args": ["x"]})", R"(, "annotations": {"berth.sys.readonly": "maybe"})"), "berth.sys.readonly"},
        Rejection{SPEC(R"({"args": ["x"], "terminal": true})", ""), "terminal is not supported"},
        Rejection{SPEC(R"({"args": []})", ""), "needs at least the command"},
        Rejection{SPEC(R"({"args": "sh"})", ""), "process.args: expected an array of strings"},
        Rejection{SPEC(R"({"args": ["x"], "cwd": "rel"})", ""), "process.cwd: must be an absolute path"},
        Rejection{SPEC(R"({"args": ["x"], "env": ["NOEQUALS"]})", ""), "is not KEY=value"},
        Rejection{SPEC(R"({"args": ["x"], "user": {"uid": -1}})", ""), "process.user.uid"},
        Rejection{SPEC(R"({"args": ["x"], "user": {"uid": 0, "umask": 18}})", ""), "process.user.umask: unsupported"},
        Rejection{SPEC(R"({"args": ["x"], "rlimits": [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]})", ""), "unknown limit"},
        Rejection{SPEC(R"({"args": ["x"], "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 2, "hard": 1}]})", ""), "soft limit is above"},
        Rejection{SPEC(R"({"args": ["x"], "oomScoreAdj": 5000})", ""), "oomScoreAdj"},
        Rejection{SPEC(R"({"args": ["x"]})", R"(, "mounts": [{"destination": "rel", "type": "tmpfs"}])"), "absolute path"},
        Rejection{SPEC(R"({"args": ["x"]})", R"(, "mounts": [{"destination": "/a", "type": "bind", "source": "rel"}])"), "absolute source"},
        Rejection{SPEC(R"({"args": ["x"]})", R"(, "mounts": [{"destination": "/a"}])"), "type is required"},
        Rejection{SPEC(R"({"args": ["x"]})", R"(, "mounts": [{"destination": "/a", "type": "tmpfs", "uidMappings": []}])"), "unsupported field"},
        Rejection{SPEC(R"({"args": ["x"]})", R"(, "linux": {"namespaces": [{"type": "user"}]})"), "needs both uidMappings and gidMappings"},
        Rejection{SPEC(R"({"args": ["x"]})", R"(, "linux": {"uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]})"), "id mappings need a \"user\" namespace"},
        Rejection{SPEC(R"({"args": ["x"]})", R"(, "linux": {"namespaces": [{"type": "user", "path": "/proc/1/ns/user"}]})"), "joining an existing user namespace"},
        Rejection{SPEC(R"({"args": ["x"]})", R"(, "linux": {"uidMappings": [{"containerID": 0, "hostID": 1, "size": 0}]})"), "size must be positive"},
        Rejection{SPEC(R"({"args": ["x"]})", R"(, "linux": {"gidMappings": [{"containerID": 0, "hostID": 4294967295, "size": 2}]})"), "below 2^32"},
        Rejection{SPEC(R"({"args": ["x"]})", R"(, "linux": {"uidMappings": [{"containerID": 0, "hostID": 1}]})"), "size are required"},
        Rejection{SPEC(R"({"args": ["x"]})", R"(, "linux": {"namespaces": [{"type": "pid", "path": "/proc/1/ns/pid"}]})"), "joining an existing pid namespace is not supported"},
        Rejection{SPEC(R"({"args": ["x"]})", R"(, "linux": {"namespaces": [{"type": "network", "path": "ns/net"}]})"), "must be an absolute path"},
        Rejection{SPEC(R"({"args": ["x"]})", R"(, "linux": {"sysctl": {"net/../../x": "1"}})"), "is not a sysctl name"},
        Rejection{SPEC(R"({"args": ["x"]})", R"(, "annotations": {"berth.seccomp.bpf": "abc"})"), "BPF instructions"},
        Rejection{SPEC(R"({"args": ["x"]})", R"(, "annotations": {"berth.seccomp.bpf-file": "seccomp.bpf"})"), "expected an absolute path"},
        Rejection{SPEC(R"({"args": ["x"]})", R"(, "annotations": {"berth.seccomp.bpf-file": "/s", "berth.seccomp.bpf": "06000000ff7f0000"})"), "give one"},
        Rejection{SPEC(R"({"args": ["x"]})", R"(, "hooks": {"createRuntime": [{"path": "rel"}]})"), "must be an absolute path"},
        Rejection{SPEC(R"({"args": ["x"]})", R"(, "linux": {"namespaces": [{"type": "pid"}, {"type": "pid"}]})"), "given twice"},
        Rejection{SPEC(R"({"args": ["x"]})", R"(, "linux": {"seccomp": {}})"), "linux.seccomp: unsupported"},
        Rejection{SPEC(R"({"args": ["x"]})", R"(, "linux": {"maskedPaths": ["proc/kcore"]})"), "must be absolute"},
        Rejection{SPEC(R"({"args": ["x"]})", R"(, "linux": {"devices": [{"path": "/etc/x", "type": "c", "major": 1, "minor": 3}]})"), "must be under /dev/"},
        Rejection{SPEC(R"({"args": ["x"]})", R"(, "linux": {"devices": [{"path": "/dev/x", "type": "p", "major": 1, "minor": 3}]})"), "must be \"c\" or \"b\""},
        Rejection{SPEC(R"({"args": ["x"]})", R"(, "linux": {"devices": [{"path": "/dev/x", "type": "c", "minor": 3}]})"), "linux.devices[].major"},
        Rejection{SPEC(R"({"args": ["x"]})", R"(, "hostname": "h")"), "needs a \"uts\" namespace"},
        Rejection{SPEC(R"({"args": ["x"]})", R"(, "annotations": {"a": 1})"), "annotations.a: expected a string"},
        Rejection{SPEC(R"({"args": ["x"]})", R"(, "mounts": [], "mounts": [])"), "mounts: given twice"},
        Rejection{SPEC(R"({"args": ["x"], "args": ["y"]})", ""), "process.args: given twice"},
        Rejection{SPEC(R"({"args": ["x"]})", R"(, "annotations": {"a": "1", "a": "2"})"), "annotations.a: given twice"},
        Rejection{R"({"ociVersion": "2.0.0", "process": {"args": ["x"]}, "root": {"path": "/r"}})", "not a 1.x version"},
        Rejection{R"({"ociVersion": "1.0.2", "root": {"path": "/r"}})", "process: required"},
        Rejection{R"({"ociVersion": "1.0.2", "process": {"args": ["x"]}})", "root: required"},
        Rejection{R"({"ociVersion": "1.0.2", "process": {"args": ["x"]}, "root": {"path": "r"}})", "root.path: must be an absolute path"},
        Rejection{R"({"process": {"args": ["x"]}, "root": {"path": "/r"}})", "ociVersion: required"}));

}  // namespace
}  // namespace berth::sandbox
