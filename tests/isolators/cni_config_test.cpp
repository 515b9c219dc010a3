// CNI plumbing without root: conflists found by name, each plugin's stdin built (name,
// cniVersion, prevResult, only the runtimeConfig its capabilities ask for), results parsed
// and shown, and plugins executed with their stdin, stdout, errors and deadline.
#include <gtest/gtest.h>

#include "common/fs.hpp"
#include "common/json.hpp"
#include "isolators/network/cni_config.hpp"
#include "isolators/network/cni_exec.hpp"
#include "tests/cgroups/fake_tree.hpp"

namespace berth::isolators {
namespace {

constexpr const char* kList = R"({"cniVersion": "1.0.0", "name": "net1", "plugins": [
  {"type": "bridge", "bridge": "br9", "ipam": {"type": "host-local"}},
  {"type": "portmap", "capabilities": {"portMappings": true}},
  {"type": "bandwidth", "capabilities": {"bandwidth": true, "portMappings": false}}]})";

class CniConfigTest : public ::testing::Test {
 protected:
  void write(const std::string& name, const std::string& text) {
    ASSERT_TRUE(fs::write_file_atomic(tmp_.path() + "/" + name, text, 0755).has_value());
  }
  cgroups::testing::FakeTree tmp_;
};

rapidjson::Document doc(const std::string& text) { return json::parse(text).value(); }

TEST_F(CniConfigTest, FindsTheConflistByItsNameNotItsFileName) {
  write("00-broken.conflist", "{nope");
  write("10-other.conflist", R"({"cniVersion": "1.0.0", "name": "other", "plugins": [{"type": "ptp"}]})");
  write("20-mine.conflist", kList);
  auto list = find_conflist(tmp_.path(), "net1");
  ASSERT_TRUE(list.has_value()) << list.error().message;
  EXPECT_EQ(list->types, (std::vector<std::string>{"bridge", "portmap", "bandwidth"}));
  EXPECT_EQ(list->cni_version, "1.0.0");
  EXPECT_EQ(list->path, tmp_.path() + "/20-mine.conflist");
}

TEST_F(CniConfigTest, AnUnknownNetworkIsABadRequestNamingItAndTheDir) {
  write("20-mine.conflist", kList);
  auto list = find_conflist(tmp_.path(), "net2");
  ASSERT_FALSE(list.has_value());
  EXPECT_EQ(list.error().code, Code::kInvalidArgument);
  EXPECT_NE(list.error().message.find("unknown CNI network 'net2'"), std::string::npos) << list.error().message;
  EXPECT_NE(list.error().message.find(tmp_.path()), std::string::npos) << list.error().message;
}

TEST_F(CniConfigTest, ABadConflistSaysWhatIsWrong) {
  EXPECT_NE(parse_conflist(R"({"cniVersion": "1.0.0", "name": "x", "plugins": []})", "f").error().message.find("non-empty"),
            std::string::npos);
  EXPECT_NE(parse_conflist(R"({"cniVersion": "1.0.0", "name": "x", "plugins": [{"type": "../sh"}]})", "f")
                .error().message.find("plain binary name"),
            std::string::npos);
  EXPECT_NE(parse_conflist(R"({"name": "x", "plugins": [{"type": "a"}]})", "f").error().message.find("cniVersion"),
            std::string::npos);
}

TEST(CniConfig, EachPluginGetsOnlyTheCapabilitiesItAsksFor) {
  auto list = parse_conflist(kList, "").value();
  CniCapabilities caps{{{"http", 8080, 30001, "tcp"}}, 10, 20};
  std::string runtime = cni_runtime_config(caps);
  auto bridge = doc(cni_plugin_config(list, 0, "", runtime).value());
  EXPECT_EQ(std::string(bridge["name"].GetString()), "net1");
  EXPECT_EQ(std::string(bridge["cniVersion"].GetString()), "1.0.0");
  EXPECT_EQ(std::string(bridge["ipam"]["type"].GetString()), "host-local");
  EXPECT_FALSE(bridge.HasMember("runtimeConfig"));
  EXPECT_FALSE(bridge.HasMember("prevResult"));

  auto portmap = doc(cni_plugin_config(list, 1, R"({"cniVersion": "1.0.0", "ips": []})", runtime).value());
  ASSERT_TRUE(portmap.HasMember("runtimeConfig"));
  EXPECT_FALSE(portmap["runtimeConfig"].HasMember("bandwidth"));
  const auto& m = portmap["runtimeConfig"]["portMappings"][0];
  EXPECT_EQ(m["hostPort"].GetInt(), 30001);
  EXPECT_EQ(m["containerPort"].GetInt(), 8080);
  EXPECT_EQ(std::string(m["protocol"].GetString()), "tcp");
  EXPECT_TRUE(portmap["prevResult"].HasMember("ips"));

  auto bandwidth = doc(cni_plugin_config(list, 2, "", runtime).value());
  ASSERT_TRUE(bandwidth.HasMember("runtimeConfig"));
  EXPECT_FALSE(bandwidth["runtimeConfig"].HasMember("portMappings"));  // "portMappings": false
  EXPECT_EQ(bandwidth["runtimeConfig"]["bandwidth"]["ingressRate"].GetUint64(), 10000000u);
  EXPECT_EQ(bandwidth["runtimeConfig"]["bandwidth"]["egressRate"].GetUint64(), 20000000u);
  EXPECT_GT(bandwidth["runtimeConfig"]["bandwidth"]["egressBurst"].GetUint64(), 0u);
}

TEST(CniConfig, NothingOfferedMeansNoRuntimeConfig) {
  auto list = parse_conflist(kList, "").value();
  EXPECT_EQ(cni_runtime_config({}), "{}");
  EXPECT_FALSE(doc(cni_plugin_config(list, 1, "", cni_runtime_config({})).value()).HasMember("runtimeConfig"));
}

TEST(CniConfig, ParsesAResultAndShowsItWithInterfaceNames) {
  auto r = parse_cni_result(R"({"cniVersion": "1.0.0",
    "interfaces": [{"name": "cni0", "mac": "aa"}, {"name": "eth0", "sandbox": "/run/netns/x"}],
    "ips": [{"address": "10.22.0.5/24", "gateway": "10.22.0.1", "interface": 1}],
    "routes": [{"dst": "0.0.0.0/0", "gw": "10.22.0.1"}],
    "dns": {"nameservers": ["10.22.0.53"], "search": ["svc.local"], "domain": "local"}})");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->ips.at(0).address, "10.22.0.5/24");
  EXPECT_EQ(r->routes.at(0).gw, "10.22.0.1");
  EXPECT_EQ(r->nameservers, std::vector<std::string>{"10.22.0.53"});
  auto shown = doc(cni_result_json(*r));
  EXPECT_EQ(std::string(shown["ips"][0]["interface"].GetString()), "eth0");
  EXPECT_EQ(std::string(shown["dns"]["domain"].GetString()), "local");
}

TEST(CniConfig, AMalformedResultIsRefused) {
  EXPECT_FALSE(parse_cni_result("not json").has_value());
  auto r = parse_cni_result(R"({"cniVersion": "1.0.0", "ips": {"address": "x"}})");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("'ips' is not an array"), std::string::npos) << r.error().message;
}

class CniExecTest : public CniConfigTest {
 protected:
  CniExec plugin(const std::string& body, std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
    write("plugin", "#!/bin/sh\n" + body);
    return CniExec{tmp_.path() + "/plugin", {"CNI_COMMAND=ADD", "PATH=/usr/bin:/bin"}, "{\"in\": 1}", timeout};
  }
};

TEST_F(CniExecTest, PassesStdinAndEnvAndReturnsStdout) {
  auto out = exec_cni_plugin(plugin("echo \"$CNI_COMMAND\"; cat"));
  ASSERT_TRUE(out.has_value()) << out.error().message;
  EXPECT_EQ(*out, "ADD\n{\"in\": 1}");
}

TEST_F(CniExecTest, AFailureCarriesThePluginsErrorObject) {
  auto out = exec_cni_plugin(plugin("echo '{\"code\": 7, \"msg\": \"bad\", \"details\": \"why\"}'; exit 1"));
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(out.error().message, "bad: why (code 7)");
}

TEST_F(CniExecTest, AFailureWithoutAnErrorObjectCarriesItsStderr) {
  auto out = exec_cni_plugin(plugin("echo noise; echo 'it broke' >&2; exit 3"));
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(out.error().message, "it broke");
}

TEST_F(CniExecTest, AHangingPluginIsKilledAtTheDeadline) {
  auto started = std::chrono::steady_clock::now();
  auto out = exec_cni_plugin(plugin("sleep 30", std::chrono::milliseconds(300)));
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(out.error().code, Code::kUnavailable);
  EXPECT_EQ(out.error().message, "did not finish within 300 ms and was killed");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
}

TEST_F(CniExecTest, TooMuchOutputIsRefused) {
  auto out = exec_cni_plugin(plugin("head -c 2000000 /dev/zero"));
  ASSERT_FALSE(out.has_value());
  EXPECT_NE(out.error().message.find("wrote more than"), std::string::npos) << out.error().message;
}

}  // namespace
}  // namespace berth::isolators
