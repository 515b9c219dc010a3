#include "sandbox/user.hpp"

#include <charconv>
#include <vector>

#include "sandbox/in_root.hpp"

namespace berth::sandbox {
namespace {

constexpr size_t kMaxDbBytes = 4 * 1024 * 1024;

struct Entry {
  std::vector<std::string> fields;
};

// Splits a colon-separated database (passwd, group) into entries; comments and blank lines
// are skipped, short lines are kept and rejected by the caller's field checks.
std::vector<Entry> parse_db(const std::string& text) {
  std::vector<Entry> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty() || line[0] == '#') continue;
    Entry e;
    size_t f = 0;
    for (;;) {
      size_t c = line.find(':', f);
      e.fields.push_back(line.substr(f, c == std::string::npos ? std::string::npos : c - f));
      if (c == std::string::npos) break;
      f = c + 1;
    }
    out.push_back(std::move(e));
  }
  return out;
}

// The highest id a task may run as: (uid_t)-1 means "leave unchanged" to setresuid() and
// setresgid(), so a task asking for 4294967295 would keep berthd's root.
constexpr uint32_t kMaxId = 4294967294u;

bool all_digits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

bool parse_id(const std::string& s, uint32_t& out) {
  if (!all_digits(s)) return false;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > kMaxId) return false;
  out = static_cast<uint32_t>(v);
  return true;
}

// A number that parse_id() refused: out of range, not a name to look up.
Status check_numeric_id(const std::string& spec, const std::string& part, const char* what) {
  uint32_t id = 0;
  if (!all_digits(part) || parse_id(part, id)) return ok();
  return make_error(Code::kInvalidArgument, "user \"" + spec + "\": " + what + " id " + part +
                                                " is out of range; ids go from 0 to " + std::to_string(kMaxId));
}

// The database, or nullopt when the image has none (numeric ids still work then).
Result<std::optional<std::vector<Entry>>> load_db(int rootfd, const char* path) {
  auto text = read_in_root(rootfd, path, kMaxDbBytes);
  if (!text) {
    if (text.error().sys_errno == ENOENT) return std::optional<std::vector<Entry>>();
    return std::move(text).error().wrap("read /" + std::string(path) + " of the root filesystem");
  }
  return std::optional<std::vector<Entry>>(parse_db(*text));
}

}  // namespace

Result<OciUser> resolve_user(int rootfd, const std::string& spec) {
  std::string user_part = spec, group_part;
  bool has_group = false;
  if (auto colon = spec.find(':'); colon != std::string::npos) {
    user_part = spec.substr(0, colon);
    group_part = spec.substr(colon + 1);
    has_group = true;
    if (group_part.empty()) return make_error(Code::kInvalidArgument, "user \"" + spec + "\": empty group");
  }
  if (user_part.empty()) {
    if (has_group) return make_error(Code::kInvalidArgument, "user \"" + spec + "\": empty user");
    user_part = "0";
  }

  BERTH_CHECK(check_numeric_id(spec, user_part, "user"));
  if (has_group) BERTH_CHECK(check_numeric_id(spec, group_part, "group"));

  BERTH_TRY(auto passwd, load_db(rootfd, "etc/passwd"));
  OciUser user;
  std::string name;  // the user's name, if it has one, for group membership
  uint32_t id = 0;
  if (parse_id(user_part, id)) {
    user.uid = id;
    if (passwd) {
      for (const auto& e : *passwd) {
        uint32_t uid = 0, gid = 0;
        if (e.fields.size() >= 4 && parse_id(e.fields[2], uid) && uid == id && parse_id(e.fields[3], gid)) {
          name = e.fields[0];
          user.gid = gid;
          break;
        }
      }
    }
  } else {
    bool found = false;
    if (passwd) {
      for (const auto& e : *passwd) {
        if (e.fields.size() >= 4 && e.fields[0] == user_part) {
          uint32_t uid = 0, gid = 0;
          if (!parse_id(e.fields[2], uid) || !parse_id(e.fields[3], gid))
            return make_error(Code::kInvalidArgument, "user \"" + user_part + "\": malformed entry in /etc/passwd of the root filesystem");
          user.uid = uid;
          user.gid = gid;
          name = user_part;
          found = true;
          break;
        }
      }
    }
    if (!found)
      return make_error(Code::kInvalidArgument, "user \"" + user_part + "\" not found in /etc/passwd of the root filesystem");
  }
  // A numeric uid without an entry runs with gid 0, like other runtimes.

  BERTH_TRY(auto group, load_db(rootfd, "etc/group"));
  if (has_group) {
    if (parse_id(group_part, id)) {
      user.gid = id;
    } else {
      bool found = false;
      if (group) {
        for (const auto& e : *group) {
          uint32_t gid = 0;
          if (e.fields.size() >= 3 && e.fields[0] == group_part && parse_id(e.fields[2], gid)) {
            user.gid = gid;
            found = true;
            break;
          }
        }
      }
      if (!found)
        return make_error(Code::kInvalidArgument, "group \"" + group_part + "\" not found in /etc/group of the root filesystem");
    }
  }
  if (!name.empty() && group) {
    for (const auto& e : *group) {
      uint32_t gid = 0;
      if (e.fields.size() < 4 || !parse_id(e.fields[2], gid) || gid == user.gid) continue;
      const std::string& members = e.fields[3];
      size_t pos = 0;
      while (pos <= members.size()) {
        size_t comma = members.find(',', pos);
        if (comma == std::string::npos) comma = members.size();
        if (members.compare(pos, comma - pos, name) == 0 && comma - pos == name.size()) {
          bool dup = false;
          for (gid_t g : user.additional_gids) dup = dup || g == gid;
          if (!dup) user.additional_gids.push_back(gid);
          break;
        }
        pos = comma + 1;
      }
    }
  }
  return user;
}

}  // namespace berth::sandbox
