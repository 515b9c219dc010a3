// JSON helpers over RapidJSON: parse with a clear error, serialize, and typed getters for
// documents that a schema has already validated. A JsonWriter builds compact JSON text.
//
// Invariants: every JSON text berthd reads (API bodies, registry replies, its own state) goes
// through parse(), which parses iteratively (no recursion over the input) and refuses nesting
// deeper than kMaxDepth, so every later walk over a parsed value (Accept, schema validation,
// deep copies, to_string) is bounded too. Strings may hold NUL (\u0000): read them with their
// length, never as C strings; find_nul() says where one is, for fields that must not have any.
// No shared state; thread-safe.
#pragma once

#define RAPIDJSON_HAS_STDSTRING 1
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace berth::json {

// Deeper than any document berth or a registry writes (an OCI manifest is about 4 deep).
inline constexpr size_t kMaxDepth = 64;

// Parses text; a syntax error or nesting deeper than kMaxDepth is kInvalidArgument naming the
// offset and the problem.
Result<rapidjson::Document> parse(std::string_view text);

// The JSON pointer of the first string (value or key) in `v` holding a NUL character, if any.
std::optional<std::string> find_nul(const rapidjson::Value& v);
// `s` with each NUL spelled \u0000, for messages.
std::string printable(std::string_view s);

std::string to_string(const rapidjson::Value& v);

// Getters that return a fallback when the member is absent or has another type.
std::string get_string(const rapidjson::Value& obj, const char* key, std::string fallback = "");
int64_t get_int(const rapidjson::Value& obj, const char* key, int64_t fallback = 0);
uint64_t get_uint(const rapidjson::Value& obj, const char* key, uint64_t fallback = 0);
double get_double(const rapidjson::Value& obj, const char* key, double fallback = 0);
bool get_bool(const rapidjson::Value& obj, const char* key, bool fallback = false);
std::vector<std::string> get_string_array(const rapidjson::Value& obj, const char* key);
std::map<std::string, std::string> get_string_map(const rapidjson::Value& obj, const char* key);

// Thin wrapper over rapidjson::Writer so call sites read as key/value pairs.
class JsonWriter {
 public:
  JsonWriter() : w_(buf_) {}
  JsonWriter& begin_object() { w_.StartObject(); return *this; }
  JsonWriter& end_object() { w_.EndObject(); return *this; }
  JsonWriter& begin_array() { w_.StartArray(); return *this; }
  JsonWriter& end_array() { w_.EndArray(); return *this; }
  JsonWriter& key(std::string_view k) { w_.Key(k.data(), static_cast<rapidjson::SizeType>(k.size())); return *this; }
  JsonWriter& value(std::string_view s) { w_.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); return *this; }
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
  JsonWriter& value(bool b) { w_.Bool(b); return *this; }
  JsonWriter& value(int v) { w_.Int64(v); return *this; }
  JsonWriter& value(long v) { w_.Int64(v); return *this; }
  JsonWriter& value(long long v) { w_.Int64(v); return *this; }
  JsonWriter& value(unsigned v) { w_.Uint64(v); return *this; }
  JsonWriter& value(unsigned long v) { w_.Uint64(v); return *this; }
  JsonWriter& value(unsigned long long v) { w_.Uint64(v); return *this; }
  JsonWriter& value(double v) { w_.Double(v); return *this; }
  JsonWriter& null() { w_.Null(); return *this; }
  JsonWriter& raw(std::string_view json) {
    w_.RawValue(json.data(), json.size(), rapidjson::kObjectType);
    return *this;
  }
  JsonWriter& value(const rapidjson::Value& v) { v.Accept(w_); return *this; }
  template <typename T>
  JsonWriter& kv(std::string_view k, const T& v) { key(k); return value(v); }
  JsonWriter& kv_strings(std::string_view k, const std::vector<std::string>& v);
  JsonWriter& kv_map(std::string_view k, const std::map<std::string, std::string>& m);

  std::string str() const { return std::string(buf_.GetString(), buf_.GetSize()); }

 private:
  rapidjson::StringBuffer buf_;
  rapidjson::Writer<rapidjson::StringBuffer> w_;
};

}  // namespace berth::json
