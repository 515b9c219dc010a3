// The unpacker at scale: a layer of very many entries unpacks in bounded memory (its directory
// times are not held per entry without limit), and deep paths unpack through the cached parent.
// The tar stream is generated on the fly, so the test itself holds no archive in memory.
#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdio>
#include <cstring>

#include "tests/fetcher/tar_builder.hpp"
#include "tests/fetcher/test_util.hpp"

namespace berth::testing {
namespace {

// ustar headers, one entry at a time; then the two zero blocks of the end marker.
class TarStream {
 public:
  using NextEntry = std::function<bool(std::string* prefix, std::string* name, char* type)>;
  explicit TarStream(NextEntry next) : next_(std::move(next)) {}

  size_t read(void* buf, size_t len) {
    size_t done = 0;
    while (done < len) {
      if (pos_ == block_.size()) {
        if (!refill()) break;
      }
      size_t n = std::min(len - done, block_.size() - pos_);
      std::memcpy(static_cast<char*>(buf) + done, block_.data() + pos_, n);
      pos_ += n;
      done += n;
    }
    return done;
  }

 private:
  bool refill() {
    if (ended_) return false;
    std::string prefix, name;
    char type = '5';
    pos_ = 0;
    if (!next_(&prefix, &name, &type)) {
      block_.assign(1024, '\0');
      ended_ = true;
      return true;
    }
    block_.assign(512, '\0');
    std::memcpy(&block_[0], name.data(), std::min<size_t>(name.size(), 100));
    std::snprintf(&block_[100], 8, "%07o", type == '5' ? 0755 : 0644);
    std::snprintf(&block_[108], 8, "%07o", 0);
    std::snprintf(&block_[116], 8, "%07o", 0);
    std::snprintf(&block_[124], 12, "%011o", 0);
    std::snprintf(&block_[136], 12, "%011o", 1700000000);
    block_[156] = type;
    std::memcpy(&block_[257], "ustar", 6);
    std::memcpy(&block_[263], "00", 2);
    std::memcpy(&block_[345], prefix.data(), std::min<size_t>(prefix.size(), 155));
    std::memset(&block_[148], ' ', 8);
    unsigned sum = 0;
    for (unsigned char c : block_) sum += c;
    std::snprintf(&block_[148], 8, "%06o", sum);
    return true;
  }

  NextEntry next_;
  std::string block_;
  size_t pos_ = 0;
  bool ended_ = false;
};

size_t heap_in_use() {
  struct mallinfo2 mi = ::mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

Result<fetcher::UnpackStats> unpack_stream(TarStream& tar, const std::string& root, size_t* peak_heap) {
  auto dir = fs::open_dir(root);
  if (!dir) return dir.error();
  fetcher::ReadFn read = [&](void* buf, size_t len) -> Result<size_t> {
    *peak_heap = std::max(*peak_heap, heap_in_use());
    return tar.read(buf, len);
  };
  return fetcher::unpack(read, dir->get(), fetcher::UnpackOptions{});
}

TEST(UnpackScale, ALayerOfManyDirectoriesUnpacksInBoundedMemory) {
  TempDir t;
  constexpr int kDirs = 30'000;
  const std::string top(154, 'p');
  int i = -1;
  TarStream tar([&](std::string* prefix, std::string* name, char* type) {
    *type = '5';
    if (++i == 0) {  // the top directory itself: 154 bytes, so in `prefix`
      *prefix = top;
      *name = ".";
      return true;
    }
    if (i > kDirs) return false;
    char num[16];
    std::snprintf(num, sizeof num, "%08d", i);
    *prefix = top;
    *name = std::string(num) + std::string(89, 'n') + "/";
    return true;
  });
  size_t before = heap_in_use();
  size_t peak = before;
  auto st = unpack_stream(tar, t.path(), &peak);
  ASSERT_TRUE(st.has_value()) << st.error().message;
  EXPECT_EQ(st->entries, static_cast<uint64_t>(kDirs) + 1);
  // 30,000 directories with 250-byte paths: holding a path per directory would be ~12 MiB.
  EXPECT_LT(peak - before, 4u << 20) << "peak heap growth " << (peak - before) << " bytes";
  // Times are still restored on every directory, the first and the last included.
  struct stat st_first {}, st_last {};
  ASSERT_EQ(::stat((t / top + "/00000001" + std::string(89, 'n')).c_str(), &st_first), 0);
  ASSERT_EQ(::stat((t / top + "/" + std::string("00030000") + std::string(89, 'n')).c_str(), &st_last), 0);
  EXPECT_EQ(st_first.st_mtim.tv_sec, 1700000000);
  EXPECT_EQ(st_last.st_mtim.tv_sec, 1700000000);
}

TEST(UnpackScale, DeepPathsAndSymlinkedParentsUnpackInTheRoot) {
  TempDir t;
  // 2,000 levels ("a/a/…": 4,000 bytes, under the 4,096 cap), files at several depths, a parent
  // that later becomes a symlink (the cached parent must not outlive it), and a missing parent.
  TarBuilder b;
  std::string path;
  for (int i = 0; i < 2000; ++i) {
    path += (i ? "/a" : "a");
    if (i % 500 == 0) b.file(path + "/f", "x");
  }
  b.dir("s").file("s/one", "1").symlink("s", "elsewhere").dir("elsewhere").file("s/two", "2");
  b.file("m/i/s/s/i/n/g/leaf", "made");
  auto st = unpack_string(b.build(), t.path());
  ASSERT_TRUE(st.has_value()) << st.error().message;
  EXPECT_TRUE(fs::exists(t / path.substr(0, 1 + 2 * 1500) + "/f"));
  EXPECT_EQ(fs::read_file(t / "elsewhere/two").value_or(""), "2");  // through the new symlink
  EXPECT_FALSE(fs::exists(t / "elsewhere/one"));
  EXPECT_EQ(fs::read_file(t / "m/i/s/s/i/n/g/leaf").value_or(""), "made");
}

}  // namespace
}  // namespace berth::testing
