#include "fetcher/layer_links.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>

#include "common/fs.hpp"

namespace berth::fetcher {
namespace {

constexpr size_t kIdLength = 16;  // 80 random bits
constexpr const char* kLayerDir = "layers";

Result<std::string> random_id() {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  unsigned char bytes[kIdLength];
  size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("getrandom");
    got += static_cast<size_t>(n);
  }
  std::string id;
  for (unsigned char b : bytes) id.push_back(kAlphabet[b & 31]);
  return id;
}

std::string link_rel(const std::string& id) { return std::string(kLayerLinkDir) + "/" + id; }
std::string target_of(const std::string& hex) { return std::string("../") + kLayerDir + "/" + hex + "/fs"; }

}  // namespace

Result<std::string> make_layer_link(int store_fd, const std::string& hex, const std::string& layer_dir_rel) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    BERTH_TRY(std::string id, random_id());
    if (::symlinkat(target_of(hex).c_str(), store_fd, link_rel(id).c_str()) != 0) {
      if (errno == EEXIST) continue;  // another layer drew the same id
      return errno_error("link layer " + hex);
    }
    BERTH_TRY(UniqueFd dir, fs::open_dir_at(store_fd, layer_dir_rel));
    auto st = fs::write_file_atomic(dir.get(), "link", id);
    if (!st) {
      remove_link_id(store_fd, id);
      return std::move(st).error();
    }
    return id;
  }
  return make_error(Code::kInternal, "link layer " + hex + ": no free short name after 8 tries");
}

Result<std::string> layer_link_id(int store_fd, const std::string& hex) {
  BERTH_TRY(std::string id, fs::read_file_at(store_fd, std::string(kLayerDir) + "/" + hex + "/link"));
  if (id.size() != kIdLength || id.find_first_of("/:,") != std::string::npos)
    return make_error(Code::kInternal, "layer " + hex + " has a malformed link file");
  return id;
}

void remove_link_id(int store_fd, const std::string& id) { ::unlinkat(store_fd, link_rel(id).c_str(), 0); }

void remove_layer_link(int store_fd, const std::string& hex) {
  if (auto id = layer_link_id(store_fd, hex)) remove_link_id(store_fd, *id);
}

Status repair_layer_links(int store_fd) {
  if (::mkdirat(store_fd, kLayerLinkDir, 0700) != 0 && errno != EEXIST) return errno_error("create l/");
  BERTH_TRY(UniqueFd ldir, fs::open_dir_at(store_fd, kLayerLinkDir));
  BERTH_TRY(auto links, fs::list_dir("/proc/self/fd/" + std::to_string(ldir.get())));
  for (const auto& id : links) {
    struct stat st {};
    // Follows the symlink: ENOENT means its layer is gone (or was never committed).
    if (::fstatat(ldir.get(), id.c_str(), &st, 0) != 0 && errno == ENOENT) ::unlinkat(ldir.get(), id.c_str(), 0);
  }
  BERTH_TRY(UniqueFd layers, fs::open_dir_at(store_fd, kLayerDir));
  BERTH_TRY(auto hexes, fs::list_dir("/proc/self/fd/" + std::to_string(layers.get())));
  for (const auto& hex : hexes) {
    auto id = layer_link_id(store_fd, hex);
    struct stat st {};
    if (id && ::fstatat(ldir.get(), id->c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) continue;
    BERTH_CHECK_CTX(make_layer_link(store_fd, hex, std::string(kLayerDir) + "/" + hex), "repair layer links");
  }
  return ok();
}

}  // namespace berth::fetcher
