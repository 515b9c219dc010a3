#include "common/json.hpp"

#include <rapidjson/encodedstream.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

namespace berth::json {

namespace {

// Forwards SAX events to the document being built and refuses nesting deeper than the cap.
// With kParseIterativeFlag the reader itself keeps its state on the heap; this cap bounds
// every later walk over the value (Accept, the schema validator, deep copies, to_string).
class DepthCappedBuilder {
 public:
  explicit DepthCappedBuilder(rapidjson::Document& doc) : doc_(doc) {}
  bool Null() { return doc_.Null(); }
  bool Bool(bool b) { return doc_.Bool(b); }
  bool Int(int i) { return doc_.Int(i); }
  bool Uint(unsigned i) { return doc_.Uint(i); }
  bool Int64(int64_t i) { return doc_.Int64(i); }
  bool Uint64(uint64_t i) { return doc_.Uint64(i); }
  bool Double(double d) { return doc_.Double(d); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) { return doc_.RawNumber(s, n, copy); }
  bool String(const char* s, rapidjson::SizeType n, bool copy) { return doc_.String(s, n, copy); }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) { return doc_.Key(s, n, copy); }
  bool StartObject() { return enter() && doc_.StartObject(); }
  bool EndObject(rapidjson::SizeType n) { --depth_; return doc_.EndObject(n); }
  bool StartArray() { return enter() && doc_.StartArray(); }
  bool EndArray(rapidjson::SizeType n) { --depth_; return doc_.EndArray(n); }
  bool too_deep() const { return too_deep_; }

 private:
  bool enter() {
    if (++depth_ <= kMaxDepth) return true;
    too_deep_ = true;
    return false;
  }
  rapidjson::Document& doc_;
  size_t depth_ = 0;
  bool too_deep_ = false;
};

}  // namespace

Result<rapidjson::Document> parse(std::string_view text) {
  rapidjson::Document doc;
  rapidjson::MemoryStream ms(text.data(), text.size());
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> in(ms);
  rapidjson::ParseResult result;
  bool too_deep = false;
  auto generate = [&](rapidjson::Document& d) {
    DepthCappedBuilder builder(d);
    rapidjson::Reader reader;
    result = reader.Parse<rapidjson::kParseIterativeFlag>(in, builder);
    too_deep = builder.too_deep();
    return !result.IsError();
  };
  doc.Populate(generate);
  if (too_deep)
    return make_error(Code::kInvalidArgument, "JSON nested deeper than " + std::to_string(kMaxDepth) +
                                                  " levels at offset " + std::to_string(result.Offset()));
  if (result.IsError())
    return make_error(Code::kInvalidArgument, std::string("malformed JSON at offset ") +
                                                  std::to_string(result.Offset()) + ": " +
                                                  rapidjson::GetParseError_En(result.Code()));
  return doc;
}

std::optional<std::string> find_nul(const rapidjson::Value& root) {
  // An explicit stack (the depth is capped by parse(), but this may see any value).
  struct Frame {
    const rapidjson::Value* v;
    std::string where;
  };
  std::vector<Frame> todo{{&root, ""}};
  auto has_nul = [](const rapidjson::Value& s) {
    return std::string_view(s.GetString(), s.GetStringLength()).find('\0') != std::string_view::npos;
  };
  while (!todo.empty()) {
    Frame f = std::move(todo.back());
    todo.pop_back();
    if (f.v->IsString() && has_nul(*f.v)) return f.where.empty() ? "/" : f.where;
    if (f.v->IsArray()) {
      for (rapidjson::SizeType i = f.v->Size(); i-- > 0;)
        todo.push_back({&(*f.v)[i], f.where + "/" + std::to_string(i)});
    } else if (f.v->IsObject()) {
      for (auto m = f.v->MemberEnd(); m != f.v->MemberBegin();) {
        --m;
        std::string key(m->name.GetString(), m->name.GetStringLength());
        if (has_nul(m->name)) return f.where + "/" + printable(key);
        todo.push_back({&m->value, f.where + "/" + key});
      }
    }
  }
  return std::nullopt;
}

std::string printable(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\0') out += "\\u0000";
    else out += c;
  }
  return out;
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
    if (e.value.IsString()) out[std::string(e.name.GetString(), e.name.GetStringLength())] = std::string(e.value.GetString(), e.value.GetStringLength());
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
