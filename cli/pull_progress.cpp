#include "cli/pull_progress.hpp"

#include <algorithm>

#include "cli/format.hpp"

namespace berth::cli {
namespace {

constexpr size_t kBarWidth = 20;
constexpr size_t kStateWidth = 8;  // "fetching"

std::string bar_of(uint64_t fetched, uint64_t size) {
  size_t filled = size == 0 ? 0 : static_cast<size_t>(std::min(fetched, size) * kBarWidth / size);
  std::string b(filled, '=');
  if (filled < kBarWidth) b += '>';
  b.resize(kBarWidth, ' ');
  return "[" + b + "]";
}

}  // namespace

std::string layer_line(const LayerState& layer, bool bar) {
  std::string state = layer.state.empty() ? "waiting" : layer.state;
  std::string out = short_digest(layer.digest) + "  " + state;
  std::string detail;
  if (state == "fetching") {
    detail = bar ? bar_of(layer.fetched, layer.size) + "  " + human_size(layer.fetched) + " / " + human_size(layer.size)
                 : human_size(layer.size);
  } else if (state == "failed") {
    detail = human_size(layer.fetched) + " / " + human_size(layer.size);
  } else if (state == "done" || state == "present") {
    detail = human_size(layer.size);
  }
  if (!detail.empty()) out += std::string(kStateWidth > state.size() ? kStateWidth - state.size() : 0, ' ') + "  " + detail;
  return out;
}

std::string PullDisplay::feed(std::string_view chunk) {
  pending_.append(chunk);
  std::string out;
  size_t nl;
  while ((nl = pending_.find('\n')) != std::string::npos) {
    std::string line = pending_.substr(0, nl);
    pending_.erase(0, nl + 1);
    out += take_line(line);
  }
  if (mode_ == Mode::kTerminal && changed_) out += redraw();
  changed_ = false;
  if (finished_ && !summary_.empty()) {
    out += summary_;
    summary_.clear();
  }
  return out;
}

std::string PullDisplay::finish() {
  if (pending_.empty()) return "";
  return feed("\n");
}

std::string PullDisplay::take_line(const std::string& line) {
  if (line.empty()) return "";
  std::string raw = mode_ == Mode::kJson ? line + "\n" : "";
  auto doc = json::parse(line);
  if (!doc.has_value() || !doc->IsObject()) {
    // Not ours to judge: show it rather than drop it. The redrawn block starts anew below.
    drawn_ = 0;
    return line + "\n";
  }
  if (doc->HasMember("status")) {
    finished_ = true;
    pulled_ = json::get_string(*doc, "status") == "pulled";
    if (pulled_ && mode_ != Mode::kJson && doc->HasMember("image"))
      summary_ = "pulled " + image_summary((*doc)["image"]) + "\n";
    if (!pulled_) {
      error_ = doc->HasMember("error") ? json::get_string((*doc)["error"], "message") : "";
      if (error_.empty()) error_ = "pull failed";
    }
    return raw;
  }
  if (!doc->HasMember("layer")) return raw;
  LayerState next{json::get_string(*doc, "digest"), json::get_string(*doc, "state"), json::get_uint(*doc, "size"),
                  json::get_uint(*doc, "fetched"), json::get_uint(*doc, "written")};
  auto [it, added] = layers_.try_emplace(json::get_int(*doc, "layer"), next);
  bool state_changed = added || it->second.state != next.state;
  it->second = next;
  changed_ = true;
  if (mode_ == Mode::kPlain && state_changed) return layer_line(next, false) + "\n";
  return raw;
}

std::string PullDisplay::redraw() {
  std::string out;
  if (drawn_ > 0) out += "\x1b[" + std::to_string(drawn_) + "A";  // back to the block's first line
  for (const auto& [index, layer] : layers_) {
    std::string line = layer_line(layer, true);
    if (columns_ > 1 && line.size() >= columns_) line.resize(columns_ - 1);
    out += "\r\x1b[2K" + line + "\n";  // clear the old text, which may have been longer
  }
  drawn_ = layers_.size();
  return out;
}

}  // namespace berth::cli
