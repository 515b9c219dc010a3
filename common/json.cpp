#include "common/json.hpp"

#include <rapidjson/error/en.h>

namespace berth::json {

Result<rapidjson::Document> parse(std::string_view text) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError()) {
    return make_error(Code::kInvalidArgument,
                      std::string("malformed JSON at offset ") + std::to_string(doc.GetErrorOffset()) +
                          ": " + rapidjson::GetParseError_En(doc.GetParseError()));
  }
  return doc;
}

std::string to_string(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

static const rapidjson::Value* member(const rapidjson::Value& obj, const char* key) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(key);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

std::string get_string(const rapidjson::Value& obj, const char* key, std::string fallback) {
  auto* m = member(obj, key);
  return m && m->IsString() ? std::string(m->GetString(), m->GetStringLength()) : fallback;
}

int64_t get_int(const rapidjson::Value& obj, const char* key, int64_t fallback) {
  auto* m = member(obj, key);
  return m && m->IsInt64() ? m->GetInt64() : fallback;
}

uint64_t get_uint(const rapidjson::Value& obj, const char* key, uint64_t fallback) {
  auto* m = member(obj, key);
  return m && m->IsUint64() ? m->GetUint64() : fallback;
}

double get_double(const rapidjson::Value& obj, const char* key, double fallback) {
  auto* m = member(obj, key);
  return m && m->IsNumber() ? m->GetDouble() : fallback;
}

bool get_bool(const rapidjson::Value& obj, const char* key, bool fallback) {
  auto* m = member(obj, key);
  return m && m->IsBool() ? m->GetBool() : fallback;
}

std::vector<std::string> get_string_array(const rapidjson::Value& obj, const char* key) {
  std::vector<std::string> out;
  auto* m = member(obj, key);
  if (!m || !m->IsArray()) return out;
  for (const auto& e : m->GetArray())
    if (e.IsString()) out.emplace_back(e.GetString(), e.GetStringLength());
  return out;
}

std::map<std::string, std::string> get_string_map(const rapidjson::Value& obj, const char* key) {
  std::map<std::string, std::string> out;
  auto* m = member(obj, key);
  if (!m || !m->IsObject()) return out;
  for (const auto& e : m->GetObject())
    if (e.value.IsString()) out[e.name.GetString()] = std::string(e.value.GetString(), e.value.GetStringLength());
  return out;
}

JsonWriter& JsonWriter::kv_strings(std::string_view k, const std::vector<std::string>& v) {
  key(k).begin_array();
  for (const auto& s : v) value(s);
  return end_array();
}

JsonWriter& JsonWriter::kv_map(std::string_view k, const std::map<std::string, std::string>& m) {
  key(k).begin_object();
  for (const auto& [mk, mv] : m) kv(mk, mv);
  return end_object();
}

}  // namespace berth::json
