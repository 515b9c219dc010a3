// TarBuilder: writes tar archives in memory with libarchive's write API, for tests that need
// layers (hostile or ordinary). Entries come out in call order; compression gzip, zstd or none.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace berth::testing {

enum class Compression { kNone, kGzip, kZstd, kXz };

struct TarMeta {
  mode_t mode = 0;
  int64_t uid = 0, gid = 0;
  time_t mtime = 1700000000;
  std::map<std::string, std::string> xattrs;
};

inline TarMeta tar_mode(mode_t mode) {
  TarMeta m;
  m.mode = mode;
  return m;
}

class TarBuilder {
 public:
  using Meta = TarMeta;

  TarBuilder& file(const std::string& path, const std::string& data, mode_t mode = 0644, Meta m = Meta()) {
    m.mode = mode;
    entries_.push_back({AE_IFREG, path, data, "", "", static_cast<int64_t>(data.size()), 0, 0, m});
    return *this;
  }
  // A header claiming `size` bytes; the data is zeros (written by libarchive's padding).
  TarBuilder& sized_file(const std::string& path, int64_t size) {
    entries_.push_back({AE_IFREG, path, "", "", "", size, 0, 0, tar_mode(0644)});
    return *this;
  }
  TarBuilder& dir(const std::string& path, mode_t mode = 0755, Meta m = Meta()) {
    m.mode = mode;
    entries_.push_back({AE_IFDIR, path, "", "", "", 0, 0, 0, m});
    return *this;
  }
  TarBuilder& symlink(const std::string& path, const std::string& target) {
    entries_.push_back({AE_IFLNK, path, "", target, "", 0, 0, 0, tar_mode(0777)});
    return *this;
  }
  TarBuilder& hardlink(const std::string& path, const std::string& target) {
    entries_.push_back({AE_IFREG, path, "", "", target, 0, 0, 0, tar_mode(0644)});
    return *this;
  }
  TarBuilder& device(const std::string& path, bool block, unsigned major, unsigned minor) {
    entries_.push_back({block ? AE_IFBLK : AE_IFCHR, path, "", "", "", 0, major, minor, tar_mode(0600)});
    return *this;
  }
  TarBuilder& fifo(const std::string& path) {
    entries_.push_back({AE_IFIFO, path, "", "", "", 0, 0, 0, tar_mode(0644)});
    return *this;
  }

  std::string build(Compression c = Compression::kNone) const {
    std::string out;
    struct archive* a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (c == Compression::kGzip) archive_write_add_filter_gzip(a);
    if (c == Compression::kZstd) archive_write_add_filter_zstd(a);
    if (c == Compression::kXz) archive_write_add_filter_xz(a);
    archive_write_set_bytes_in_last_block(a, 1);
    archive_write_open(a, &out, nullptr, &TarBuilder::write_cb, nullptr);
    for (const auto& e : entries_) {
      struct archive_entry* ae = archive_entry_new();
      archive_entry_set_pathname(ae, e.path.c_str());
      archive_entry_set_filetype(ae, e.type);
      archive_entry_set_perm(ae, e.meta.mode);
      archive_entry_set_uid(ae, e.meta.uid);
      archive_entry_set_gid(ae, e.meta.gid);
      archive_entry_set_mtime(ae, e.meta.mtime, 0);
      for (const auto& [k, v] : e.meta.xattrs) archive_entry_xattr_add_entry(ae, k.c_str(), v.data(), v.size());
      if (!e.link.empty()) archive_entry_set_symlink(ae, e.link.c_str());
      if (!e.hardlink.empty()) archive_entry_set_hardlink(ae, e.hardlink.c_str());
      if (e.type == AE_IFCHR || e.type == AE_IFBLK) archive_entry_set_rdev(ae, makedev(e.major, e.minor));
      archive_entry_set_size(ae, e.hardlink.empty() && e.type == AE_IFREG ? e.size : 0);
      if (archive_write_header(a, ae) != ARCHIVE_OK)
        throw std::runtime_error(std::string("tar header: ") + archive_error_string(a));
      if (!e.data.empty()) archive_write_data(a, e.data.data(), e.data.size());
      archive_entry_free(ae);
    }
    archive_write_close(a);
    archive_write_free(a);
    return out;
  }

 private:
  struct Entry {
    mode_t type;
    std::string path, data, link, hardlink;
    int64_t size;
    unsigned major, minor;
    Meta meta;
  };
  static la_ssize_t write_cb(struct archive*, void* ud, const void* buf, size_t n) {
    static_cast<std::string*>(ud)->append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
  }
  std::vector<Entry> entries_;
};

}  // namespace berth::testing
