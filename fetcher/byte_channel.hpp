// ByteChannel: a bounded in-memory pipe between one writer thread (curl's write callback) and
// one reader thread (libarchive's read callback), so a layer streams network → digest →
// decompress → unpack with no temp copy and with back-pressure: a full channel blocks the
// writer, which stalls curl, which stalls the TCP window. Either side can stop the other:
// close_write(error) makes read() return that error after the buffered bytes; close_read()
// makes write() return false so the transfer aborts. Thread-safe for one reader + one writer.
#pragma once

#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

#include "common/result.hpp"

namespace berth::fetcher {

class ByteChannel {
 public:
  explicit ByteChannel(size_t capacity) : capacity_(capacity) {}

  // Blocks while the channel is full. False once the reader has gone away.
  bool write(const char* data, size_t len) {
    std::unique_lock lk(mu_);
    not_full_.wait(lk, [&] { return reader_closed_ || buffered_ < capacity_; });
    if (reader_closed_) return false;
    chunks_.emplace_back(data, len);
    buffered_ += len;
    not_empty_.notify_one();
    return true;
  }

  // End of stream: clean when `error` is empty.
  void close_write(std::optional<Error> error = std::nullopt) {
    std::lock_guard lk(mu_);
    writer_closed_ = true;
    error_ = std::move(error);
    not_empty_.notify_all();
  }

  // Blocks until bytes, end of stream or an error. 0 means end of stream.
  Result<size_t> read(void* buf, size_t len) {
    std::unique_lock lk(mu_);
    not_empty_.wait(lk, [&] { return !chunks_.empty() || writer_closed_; });
    if (chunks_.empty()) {
      if (error_) return *error_;
      return size_t{0};
    }
    size_t n = 0;
    char* out = static_cast<char*>(buf);
    while (n < len && !chunks_.empty()) {
      std::string& front = chunks_.front();
      size_t take = std::min(len - n, front.size() - offset_);
      std::memcpy(out + n, front.data() + offset_, take);
      n += take;
      offset_ += take;
      if (offset_ == front.size()) {
        buffered_ -= front.size();
        chunks_.pop_front();
        offset_ = 0;
      }
    }
    not_full_.notify_one();
    return n;
  }

  void close_read() {
    std::lock_guard lk(mu_);
    reader_closed_ = true;
    chunks_.clear();
    buffered_ = 0;
    offset_ = 0;
    not_full_.notify_all();
  }

 private:
  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable not_full_, not_empty_;
  std::deque<std::string> chunks_;
  size_t offset_ = 0;
  size_t buffered_ = 0;
  bool writer_closed_ = false;
  bool reader_closed_ = false;
  std::optional<Error> error_;
};

}  // namespace berth::fetcher
