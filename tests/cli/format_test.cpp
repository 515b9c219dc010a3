#include "cli/format.hpp"

#include <gtest/gtest.h>

namespace berth::cli {
namespace {

rapidjson::Document doc(const std::string& text) {
  auto d = json::parse(text);
  EXPECT_TRUE(d.has_value()) << text;
  return std::move(d).value();
}

const int64_t kT0 = *parse_time_ms("2026-11-25T18:00:00.000Z");

TEST(ParseTime, Rfc3339) {
  EXPECT_EQ(parse_time_ms("1970-01-01T00:00:01.5Z"), 1500);
  EXPECT_EQ(parse_time_ms("1970-01-01T00:00:00.123Z"), 123);
  EXPECT_EQ(parse_time_ms("1970-01-01T01:00:00+01:00"), 0);
  EXPECT_EQ(parse_time_ms("1970-01-01T00:00:00Z"), 0);
  EXPECT_FALSE(parse_time_ms("yesterday"));
  EXPECT_FALSE(parse_time_ms("1970-01-01T00:00:00"));
  EXPECT_EQ(*parse_time_ms("2026-11-25T18:00:02.000Z") - kT0, 2000);
}

TEST(HumanDuration, LikeDocker) {
  EXPECT_EQ(human_duration(300), "Less than a second");
  EXPECT_EQ(human_duration(1000), "1 second");
  EXPECT_EQ(human_duration(59'000), "59 seconds");
  EXPECT_EQ(human_duration(61'000), "About a minute");
  EXPECT_EQ(human_duration(3 * 60'000 + 5000), "3 minutes");
  EXPECT_EQ(human_duration(3600'000), "About an hour");
  EXPECT_EQ(human_duration(5 * 3600'000LL), "5 hours");
  EXPECT_EQ(human_duration(3 * 86400'000LL), "3 days");
  EXPECT_EQ(human_duration(21 * 86400'000LL), "3 weeks");
  EXPECT_EQ(human_duration(120 * 86400'000LL), "4 months");
  EXPECT_EQ(human_duration(800 * 86400'000LL), "2 years");
  EXPECT_EQ(human_duration(-5000), "Less than a second");
}

TEST(FormatTable, AlignsColumns) {
  EXPECT_EQ(format_table({{"ID", "NAME", "X"}, {"abc", "n", "long value"}, {"a", "longer", ""}}),
            "ID    NAME     X\n"
            "abc   n        long value\n"
            "a     longer\n");
}

TEST(CommandText, QuotesAndTruncates) {
  EXPECT_EQ(command_text({"/bin/sh", "-c", "echo hi"}), "/bin/sh -c \"echo hi\"");
  EXPECT_EQ(command_text({"a", ""}), "a \"\"");
  EXPECT_EQ(command_text({"0123456789", "0123456789"}, 12), "012345678...");
}

TEST(ExitCode, FromTerminationRecord) {
  EXPECT_EQ(exit_code_of(doc(R"({"reason":"exited","exit_code":3,"signal":null})")), 3);
  EXPECT_EQ(exit_code_of(doc(R"({"reason":"killed","exit_code":null,"signal":"SIGKILL"})")), 137);
  EXPECT_EQ(exit_code_of(doc(R"({"reason":"exited","exit_code":null,"signal":"SIGTERM"})")), 143);
  EXPECT_EQ(exit_code_of(doc(R"({"reason":"launch_failed","exit_code":null,"signal":null})")), 125);
  EXPECT_EQ(exit_code_of(doc(R"({"reason":"lost","exit_code":null,"signal":null})")), 125);
}

TEST(StatusText, RunningExitedKilledFailed) {
  auto running = doc(R"({"state":"running","started_at":"2026-11-25T18:00:00.000Z"})");
  EXPECT_EQ(status_text(running, kT0 + 3 * 60'000), "Up 3 minutes");
  auto exited = doc(R"({"state":"exited","finished_at":"2026-11-25T18:00:00.000Z",
      "exit":{"reason":"exited","exit_code":0,"signal":null,"finished_at":"2026-11-25T18:00:00.000Z"}})");
  EXPECT_EQ(status_text(exited, kT0 + 2000), "Exited (0) 2 seconds ago");
  auto killed = doc(R"({"state":"exited","exit":{"reason":"killed","exit_code":null,"signal":"SIGKILL",
      "finished_at":"2026-11-25T18:00:00.000Z"}})");
  EXPECT_EQ(status_text(killed, kT0 + 61'000), "Killed (SIGKILL) About a minute ago");
  auto failed = doc(R"({"state":"failed","exit":{"reason":"launch_failed","finished_at":"2026-11-25T18:00:00.000Z"}})");
  EXPECT_EQ(status_text(failed, kT0 + 5000), "Failed to launch 5 seconds ago");
  EXPECT_EQ(status_text(doc(R"({"state":"pending"})"), kT0), "Created");
}

TEST(FormatPs, TableWithHeader) {
  auto list = doc(R"({"containers":[
    {"id":"3f9c2a1b7d5e4c60","name":"web-1","state":"running","created_at":"2026-11-25T17:55:00.000Z",
     "started_at":"2026-11-25T17:57:00.000Z","spec":{"command":["/bin/web","--port","8080"]}},
    {"id":"0000000000000001","name":"","state":"exited","created_at":"2026-11-25T17:59:00.000Z",
     "finished_at":"2026-11-25T17:59:58.000Z","spec":{"command":["true"]},
     "exit":{"reason":"exited","exit_code":1,"signal":null,"finished_at":"2026-11-25T17:59:58.000Z"}}]})");
  EXPECT_EQ(format_ps(list, kT0),
            "ID                 NAME    STATE     CREATED              STATUS                     COMMAND\n"
            "3f9c2a1b7d5e4c60   web-1   running   5 minutes ago        Up 3 minutes               /bin/web --port 8080\n"
            "0000000000000001   -       exited    About a minute ago   Exited (1) 2 seconds ago   true\n");
  EXPECT_EQ(format_ps(doc(R"({"containers":[]})"), kT0).find("ID "), 0u);
}

TEST(FormatEndpoints, OneRowPerMapping) {
  auto list = doc(R"({"endpoints":[
    {"task_id":"3f9c2a1b7d5e4c60","task_name":"web-1","port_name":"http","protocol":"tcp","container_port":8080,
     "host_ip":"0.0.0.0","host_port":21000,"mode":"bridge","address":"10.88.0.2"},
    {"task_id":"0000000000000001","task_name":"","port_name":"port0","protocol":"udp","container_port":53,
     "host_ip":"0.0.0.0","host_port":21001,"mode":"host","address":""}]})");
  EXPECT_EQ(format_endpoints(list),
            "TASK               NAME    PORT    PROTO   HOST            CONTAINER   ADDRESS\n"
            "3f9c2a1b7d5e4c60   web-1   http    tcp     0.0.0.0:21000   8080        10.88.0.2\n"
            "0000000000000001   -       port0   udp     0.0.0.0:21001   53          -\n");
}

TEST(FormatPs, SaysWhenATaskIsPrivileged) {
  auto list = doc(R"({"containers":[
    {"id":"3f9c2a1b7d5e4c60","name":"root-1","state":"running","created_at":"2026-11-25T17:55:00.000Z",
     "started_at":"2026-11-25T17:57:00.000Z","privileged":true,"spec":{"command":["sh"]}}]})");
  EXPECT_NE(format_ps(list, kT0).find("Up 3 minutes, privileged"), std::string::npos) << format_ps(list, kT0);
}

TEST(FormatEvent, OneLine) {
  auto ev = doc(R"({"seq":12,"time":"2026-11-25T18:00:00.123Z","type":"container.exited",
      "id":"3f9c","name":"web-1","state":"exited","exit":{"reason":"exited","exit_code":0,
      "message":"exited with code 0"}})");
  EXPECT_EQ(format_event(ev),
            "2026-11-25T18:00:00.123Z container.exited 3f9c (web-1) state=exited: exited with code 0");
}

TEST(FormatInfo, Summary) {
  auto info = doc(R"({"version":"0.1.0","cgroup":{"mount":"/sys/fs/cgroup/unified","root":"/r",
      "mode":"hybrid","controllers":["hugetlb"],"missing":["cpu","memory","pids"]},
      "capacity":{"cpus":2,"memory_mb":24000},"containers":{"total":3,"running":1},
      "paths":{"socket":"/run/berth/berth.sock","run_dir":"/run/berth","state_dir":"/var/lib/berth"}})");
  std::string text = format_info(info);
  EXPECT_NE(text.find("Cgroup mode:  hybrid\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Missing:      cpu, memory, pids"), std::string::npos) << text;
  EXPECT_NE(text.find("Capacity:     2 CPUs, 24000 MB memory"), std::string::npos) << text;
  EXPECT_NE(text.find("Containers:   3 (1 running)"), std::string::npos) << text;
}

TEST(HumanSize, DecimalUnitsThreeDigits) {
  EXPECT_EQ(human_size(0), "0 B");
  EXPECT_EQ(human_size(999), "999 B");
  EXPECT_EQ(human_size(1000), "1.0 kB");
  EXPECT_EQ(human_size(1500), "1.5 kB");
  EXPECT_EQ(human_size(12'345'678), "12.3 MB");
  EXPECT_EQ(human_size(123'456'789), "123 MB");
  EXPECT_EQ(human_size(99'960), "100 kB");
  EXPECT_EQ(human_size(999'999), "1.0 MB");  // not "1000 kB"
  EXPECT_EQ(human_size(2'500'000'000ULL), "2.5 GB");
  EXPECT_EQ(human_size(UINT64_MAX), "18.4 EB");
}

TEST(ShortDigest, TwelveHexDigits) {
  EXPECT_EQ(short_digest("sha256:abcdef0123456789abcdef"), "abcdef012345");
  EXPECT_EQ(short_digest("abc"), "abc");
  EXPECT_EQ(short_digest(""), "");
}

const char* kImages = R"({"images":[
  {"ref":"registry.local/app:1.0","manifest_digest":"sha256:abcdef0123456789","index_digest":null,
   "media_type":"application/vnd.oci.image.manifest.v1+json","config_digest":"sha256:c0",
   "layers":["sha256:l1","sha256:l2","sha256:l3"],"size":12345678,"in_use":true},
  {"ref":"localhost:5000/tools:latest","manifest_digest":"sha256:0123456789abcdef",
   "layers":["sha256:l4"],"size":999,"in_use":false}]})";

TEST(FormatImages, TableWithHeader) {
  EXPECT_EQ(format_images(doc(kImages)),
            "REF                           DIGEST         LAYERS   SIZE      IN USE\n"
            "registry.local/app:1.0        abcdef012345   3        12.3 MB   yes\n"
            "localhost:5000/tools:latest   0123456789ab   1        999 B     no\n");
  EXPECT_EQ(format_images(doc(R"({"images":[]})")), "REF   DIGEST   LAYERS   SIZE   IN USE\n");
}

TEST(ImageSummary, RefDigestLayersSize) {
  auto list = doc(kImages);
  EXPECT_EQ(image_summary(list["images"][0]), "registry.local/app:1.0 (sha256:abcdef012345\u2026, 3 layers, 12.3 MB)");
  EXPECT_EQ(image_summary(list["images"][1]), "localhost:5000/tools:latest (sha256:0123456789ab\u2026, 1 layer, 999 B)");
}

TEST(FormatPrune, WhatWasFreed) {
  EXPECT_EQ(format_prune(doc(R"({"removed_layers":2,"removed_blobs":5,"freed_bytes":40000000,
                                 "removed_images":[],"headroom_met":true})")),
            "removed 0 images, 2 layers, 5 blobs; freed 40.0 MB\n");
  EXPECT_EQ(format_prune(doc(R"({"removed_layers":1,"removed_blobs":1,"freed_bytes":0,
                                 "removed_images":["r.local/a:1"],"headroom_met":false})")),
            "removed 1 image, 1 layer, 1 blob; freed 0 B\n"
            "removed image r.local/a:1\n"
            "free space is still below gc_headroom_mb: the remaining images are in use\n");
}

}  // namespace
}  // namespace berth::cli
