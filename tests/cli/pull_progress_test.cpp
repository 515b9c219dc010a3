// The pull display in its three modes, fed the stream of POST /v1/images/pull in pieces.
#include "cli/pull_progress.hpp"

#include <gtest/gtest.h>

namespace berth::cli {
namespace {

const std::string kD1 = "sha256:1111111111112222222222";
const std::string kD2 = "sha256:aaaaaaaaaaaabbbbbbbbbbbb";

std::string progress(int layer, const std::string& digest, const char* state, uint64_t size, uint64_t fetched) {
  return R"({"layer":)" + std::to_string(layer) + R"(,"digest":")" + digest + R"(","state":")" + state +
         R"(","size":)" + std::to_string(size) + R"(,"fetched":)" + std::to_string(fetched) +
         R"(,"written":)" + std::to_string(fetched) + "}\n";
}

const std::string kPulled =
    R"({"status":"pulled","image":{"ref":"registry.local/app:1.0","manifest_digest":"sha256:abcdef0123456789",)"
    R"("layers":["sha256:1","sha256:2"],"size":42000000,"in_use":false}})"
    "\n";
const std::string kFailed =
    R"({"status":"failed","error":{"code":"unavailable","message":"pull registry.local/app:1.0: connection refused"}})"
    "\n";

TEST(LayerLine, WithAndWithoutBar) {
  LayerState l{kD1, "fetching", 40'000'000, 10'000'000, 0};
  EXPECT_EQ(layer_line(l, true), "111111111111  fetching  [=====>              ]  10.0 MB / 40.0 MB");
  EXPECT_EQ(layer_line(l, false), "111111111111  fetching  40.0 MB");
  l.fetched = l.size;
  EXPECT_EQ(layer_line(l, true), "111111111111  fetching  [====================]  40.0 MB / 40.0 MB");
  l.state = "done";
  EXPECT_EQ(layer_line(l, true), "111111111111  done      40.0 MB");
  l.state = "present";
  EXPECT_EQ(layer_line(l, false), "111111111111  present   40.0 MB");
  l.state = "waiting";
  EXPECT_EQ(layer_line(l, true), "111111111111  waiting");
  l = {kD1, "failed", 2000, 1000, 0};
  EXPECT_EQ(layer_line(l, false), "111111111111  failed    1.0 kB / 2.0 kB");
  l = {kD1, "fetching", 0, 0, 0};  // size unknown: an empty bar, no division by zero
  EXPECT_EQ(layer_line(l, true), "111111111111  fetching  [>                   ]  0 B / 0 B");
}

TEST(PullDisplay, PlainPrintsStateChangesOnlyThenTheSummary) {
  PullDisplay d(PullDisplay::Mode::kPlain);
  std::string out = d.feed(progress(0, kD1, "waiting", 40'000'000, 0) + progress(1, kD2, "present", 2'000'000, 0));
  out += d.feed(progress(0, kD1, "fetching", 40'000'000, 0));
  out += d.feed(progress(0, kD1, "fetching", 40'000'000, 20'000'000));  // no state change: nothing
  std::string split = progress(0, kD1, "done", 40'000'000, 40'000'000) + kPulled;
  out += d.feed(split.substr(0, 30));  // a line split across chunks
  EXPECT_FALSE(d.finished());
  out += d.feed(split.substr(30));
  out += d.finish();
  EXPECT_EQ(out,
            "111111111111  waiting\n"
            "aaaaaaaaaaaa  present   2.0 MB\n"
            "111111111111  fetching  40.0 MB\n"
            "111111111111  done      40.0 MB\n"
            "pulled registry.local/app:1.0 (sha256:abcdef012345\u2026, 2 layers, 42.0 MB)\n");
  EXPECT_TRUE(d.finished());
  EXPECT_TRUE(d.pulled());
}

TEST(PullDisplay, TerminalRedrawsTheBlockInPlace) {
  PullDisplay d(PullDisplay::Mode::kTerminal);
  std::string first = d.feed(progress(0, kD1, "fetching", 40'000'000, 0) + progress(1, kD2, "waiting", 10, 0));
  EXPECT_EQ(first,
            "\r\x1b[2K111111111111  fetching  [>                   ]  0 B / 40.0 MB\n"
            "\r\x1b[2Kaaaaaaaaaaaa  waiting\n");
  // Two updates in one chunk: one redraw, starting two lines up.
  std::string second = d.feed(progress(0, kD1, "fetching", 40'000'000, 20'000'000) +
                              progress(0, kD1, "fetching", 40'000'000, 30'000'000));
  EXPECT_EQ(second,
            "\x1b[2A"
            "\r\x1b[2K111111111111  fetching  [===============>    ]  30.0 MB / 40.0 MB\n"
            "\r\x1b[2Kaaaaaaaaaaaa  waiting\n");
  std::string last = d.feed(progress(0, kD1, "done", 40'000'000, 40'000'000) + progress(1, kD2, "done", 10, 10) + kPulled);
  EXPECT_EQ(last,
            "\x1b[2A"
            "\r\x1b[2K111111111111  done      40.0 MB\n"
            "\r\x1b[2Kaaaaaaaaaaaa  done      10 B\n"
            "pulled registry.local/app:1.0 (sha256:abcdef012345\u2026, 2 layers, 42.0 MB)\n");
  EXPECT_EQ(d.finish(), "");
}

TEST(PullDisplay, TerminalCutsLinesToItsWidth) {
  PullDisplay d(PullDisplay::Mode::kTerminal, 20);
  EXPECT_EQ(d.feed(progress(0, kD1, "fetching", 40, 0)), "\r\x1b[2K111111111111  fetch\n");  // 19 columns
}

TEST(PullDisplay, JsonPassesLinesThroughAndStillKnowsTheOutcome) {
  PullDisplay d(PullDisplay::Mode::kJson);
  std::string in = progress(0, kD1, "fetching", 40, 20) + kFailed;
  EXPECT_EQ(d.feed(in), in);
  EXPECT_TRUE(d.finished());
  EXPECT_FALSE(d.pulled());
  EXPECT_EQ(d.error_message(), "pull registry.local/app:1.0: connection refused");
}

TEST(PullDisplay, FailureAndAnUnfinishedStream) {
  PullDisplay failed(PullDisplay::Mode::kPlain);
  EXPECT_EQ(failed.feed(progress(0, kD1, "failed", 2000, 1000) + kFailed), "111111111111  failed    1.0 kB / 2.0 kB\n");
  EXPECT_TRUE(failed.finished());
  EXPECT_FALSE(failed.pulled());
  EXPECT_EQ(failed.error_message(), "pull registry.local/app:1.0: connection refused");

  PullDisplay cut(PullDisplay::Mode::kPlain);
  EXPECT_EQ(cut.feed(progress(0, kD1, "waiting", 1, 0) + R"({"status":"pul)"), "111111111111  waiting\n");
  EXPECT_EQ(cut.finish(), "{\"status\":\"pul\n");  // not JSON: shown as is
  EXPECT_FALSE(cut.finished());
}

}  // namespace
}  // namespace berth::cli
