#include "isolators/userns/id_ranges.hpp"

#include <set>

#include "common/fs.hpp"
#include "common/json.hpp"

namespace berth::isolators {

Result<IdRanges> IdRanges::open(const UserNamespaceConfig& config) {
  if (config.range_size == 0 || config.range_size > config.pool_count || config.pool_start == 0 ||
      config.pool_start + config.pool_count > 4294967295ULL)
    return make_error(Code::kInvalidArgument, "userns: the pool must hold at least one range of range_size ids, "
                                              "above host id 0 and below 4294967295");
  IdRanges r(config);
  BERTH_CHECK(r.load());
  return r;
}

Status IdRanges::load() {
  if (config_.state_file.empty()) return ok();
  auto text = fs::read_file(config_.state_file);
  if (!text) {
    if (text.error().sys_errno == ENOENT) return ok();
    return std::move(text).error().wrap("userns: read the held id ranges");
  }
  auto bad = [&](const std::string& why) {
    return make_error(Code::kInternal, "userns: " + config_.state_file + " " + why +
                                           "; berth cannot tell which id ranges are held (remove it only when no "
                                           "task with a user namespace is left)");
  };
  auto doc = json::parse(*text);
  if (!doc || !doc->IsObject() || !doc->HasMember("ranges") || !(*doc)["ranges"].IsArray())
    return bad("is not a table of id ranges");
  for (const auto& e : (*doc)["ranges"].GetArray()) {
    if (!e.IsObject()) return bad("has an entry that is not an object");
    std::string owner = json::get_string(e, "owner");
    uint64_t base = json::get_uint(e, "base"), size = json::get_uint(e, "size");
    if (owner.empty() || base == 0 || size == 0 || base + size > 4294967295ULL) return bad("has an unusable entry");
    by_owner_[owner] = {{static_cast<uint32_t>(base), static_cast<uint32_t>(size)}, json::get_string(e, "holder")};
  }
  return ok();
}

Status IdRanges::save() const {
  if (config_.state_file.empty()) return ok();
  json::JsonWriter w;
  w.begin_object().kv("version", 1).key("ranges").begin_array();
  for (const auto& [owner, h] : by_owner_)
    w.begin_object().kv("owner", owner).kv("base", static_cast<uint64_t>(h.range.base))
        .kv("size", static_cast<uint64_t>(h.range.size)).kv("holder", h.holder).end_object();
  w.end_array().end_object();
  return fs::write_file_atomic(config_.state_file, w.str(), 0600);
}

std::optional<uint32_t> IdRanges::free_slot() const {
  std::map<uint64_t, uint64_t> taken;  // base -> end
  for (const auto& [owner, h] : by_owner_) taken[h.range.base] = uint64_t{h.range.base} + h.range.size;
  uint64_t slots = config_.pool_count / config_.range_size;
  for (uint64_t k = 0; k < slots; ++k) {
    uint64_t b = config_.pool_start + k * config_.range_size, e = b + config_.range_size;
    // The held range starting last below e is the only one that can overlap [b, e) if the
    // ranges do not overlap each other.
    auto it = taken.lower_bound(e);
    if (it != taken.begin() && std::prev(it)->second > b) {
      // Jump past it rather than step slot by slot through a big held range.
      uint64_t past = std::prev(it)->second;
      k = (past - config_.pool_start + config_.range_size - 1) / config_.range_size - 1;
      continue;
    }
    return static_cast<uint32_t>(b);
  }
  return std::nullopt;
}

Result<IdRange> IdRanges::acquire(const std::string& owner, const std::string& holder_path) {
  if (auto h = held(owner)) return *h;
  BERTH_CHECK(sweep());
  auto base = free_slot();
  if (!base)
    return make_error(Code::kUnavailable,
                      "userns: the id pool " + std::to_string(config_.pool_start) + "-" +
                          std::to_string(config_.pool_start + config_.pool_count - 1) + " is exhausted (" +
                          std::to_string(by_owner_.size()) + " ranges of " + std::to_string(config_.range_size) +
                          " ids held); remove finished tasks or widen userns.pool");
  IdRange r{*base, static_cast<uint32_t>(config_.range_size)};
  by_owner_[owner] = {r, holder_path};
  if (auto saved = save(); !saved) {
    by_owner_.erase(owner);
    return std::move(saved).error().wrap("userns: record the id range of " + owner);
  }
  return r;
}

std::optional<IdRange> IdRanges::held(const std::string& owner) const {
  auto it = by_owner_.find(owner);
  if (it == by_owner_.end()) return std::nullopt;
  return it->second.range;
}

Status IdRanges::release(const std::string& owner) {
  auto it = by_owner_.find(owner);
  if (it == by_owner_.end()) return ok();
  Held was = it->second;
  by_owner_.erase(it);
  if (auto saved = save(); !saved) {
    by_owner_[owner] = was;
    return std::move(saved).error().wrap("userns: release the id range of " + owner);
  }
  return ok();
}

Status IdRanges::sweep() {
  std::map<std::string, Held> before = by_owner_;
  bool changed = false;
  for (auto it = by_owner_.begin(); it != by_owner_.end();) {
    if (it->second.holder.empty() || !fs::exists(it->second.holder)) {
      it = by_owner_.erase(it);
      changed = true;
    } else {
      ++it;
    }
  }
  if (!changed) return ok();
  if (auto saved = save(); !saved) {
    by_owner_ = std::move(before);
    return std::move(saved).error().wrap("userns: free the ranges of removed tasks");
  }
  return ok();
}

}  // namespace berth::isolators
