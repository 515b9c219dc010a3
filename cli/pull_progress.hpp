// The display of `berth pull`: turns the JSON lines of POST /v1/images/pull into what the user
// sees. Three modes:
//   kTerminal  one line per layer (short digest, state, a bar and fetched/size), redrawn in
//              place with ANSI cursor moves each time a chunk of the stream arrives;
//   kPlain     a line only when a layer changes state (for logs and pipes);
//   kJson      the stream's lines as they are.
// Terminal and plain end with "pulled host/repo:tag (sha256:abcdef012345…, N layers, X MB)".
//
// Pure: feed() and finish() return the text to write, so every mode is unit-tested without a
// terminal. The final {"status": ...} line decides the outcome; a stream that ends without one
// is an unfinished pull. Not thread-safe (one pull, one reader).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "common/json.hpp"

namespace berth::cli {

struct LayerState {
  std::string digest;
  std::string state;  // waiting | fetching | done | present | failed
  uint64_t size = 0, fetched = 0, written = 0;
};

// "abcdef012345  fetching  [=======>            ]  12.3 MB / 40.0 MB" with a bar;
// "abcdef012345  fetching  40.0 MB" without.
std::string layer_line(const LayerState& layer, bool bar);

class PullDisplay {
 public:
  enum class Mode { kTerminal, kPlain, kJson };
  // `columns`: the terminal's width; longer lines are cut so they never wrap (a wrapped line
  // would throw the cursor-up count off).
  explicit PullDisplay(Mode mode, size_t columns = 80) : mode_(mode), columns_(columns) {}

  // Takes the next chunk of the response (lines may be split across chunks).
  std::string feed(std::string_view chunk);
  // The stream ended: the rest of the output (a last unterminated line, the summary).
  std::string finish();

  bool finished() const { return finished_; }  // a final status line arrived
  bool pulled() const { return pulled_; }
  const std::string& error_message() const { return error_; }

 private:
  std::string take_line(const std::string& line);  // one complete line
  std::string redraw();

  Mode mode_;
  size_t columns_;
  std::string pending_;
  std::map<int64_t, LayerState> layers_;  // by index: the manifest's order
  bool changed_ = false;
  size_t drawn_ = 0;  // lines drawn by the last redraw, to move the cursor back over
  bool finished_ = false, pulled_ = false;
  std::string error_, summary_;
};

}  // namespace berth::cli
