#include "common/mountinfo.hpp"

#include <charconv>

#include "common/fs.hpp"

namespace berth::fs {
namespace {

bool is_octal(char c) { return c >= '0' && c <= '7'; }

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    size_t j = line.find(' ', i);
    if (j == std::string_view::npos) j = line.size();
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

bool parse_u64(std::string_view s, uint64_t& out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

}  // namespace

std::string unescape_mount_field(std::string_view field) {
  std::string out;
  out.reserve(field.size());
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && is_octal(field[i + 1]) && is_octal(field[i + 2]) &&
        is_octal(field[i + 3])) {
      out.push_back(static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(field[i]);
    }
  }
  return out;
}

std::vector<MountEntry> parse_mountinfo(std::string_view text) {
  std::vector<MountEntry> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    auto f = split_fields(text.substr(pos, eol - pos));
    pos = eol + 1;
    size_t dash = 6;
    while (dash < f.size() && f[dash] != "-") ++dash;
    if (f.size() < 7 || dash + 2 >= f.size()) continue;  // no "-" or no fstype and source
    MountEntry m;
    if (!parse_u64(f[0], m.id) || !parse_u64(f[1], m.parent_id)) continue;
    m.root = unescape_mount_field(f[3]);
    m.mount_point = unescape_mount_field(f[4]);
    m.options = std::string(f[5]);
    m.fstype = unescape_mount_field(f[dash + 1]);
    m.source = unescape_mount_field(f[dash + 2]);
    if (dash + 3 < f.size()) m.super_options = unescape_mount_field(f[dash + 3]);
    out.push_back(std::move(m));
  }
  return out;
}

Result<std::vector<MountEntry>> read_mountinfo() {
  BERTH_TRY(std::string text, read_file("/proc/self/mountinfo"));
  return parse_mountinfo(text);
}

}  // namespace berth::fs
