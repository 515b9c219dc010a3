#include "common/json_schema.hpp"

#include <rapidjson/pointer.h>
#include <rapidjson/schema.h>

#include <mutex>

namespace berth::json {

struct JsonSchema::Impl {
  rapidjson::Document schema_doc;
  std::unique_ptr<rapidjson::SchemaDocument> compiled;
  // RapidJSON 1.1's regex (the "pattern" keyword) keeps its match state inside the compiled
  // schema, so two validations at once corrupt each other: one at a time.
  std::mutex mu;
};

JsonSchema::JsonSchema(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JsonSchema::JsonSchema(JsonSchema&&) noexcept = default;
JsonSchema& JsonSchema::operator=(JsonSchema&&) noexcept = default;
JsonSchema::~JsonSchema() = default;

Result<JsonSchema> JsonSchema::compile(const std::string& schema_text) {
  auto impl = std::make_unique<Impl>();
  auto doc = parse(schema_text);
  if (!doc) return make_error(Code::kInternal, "built-in schema: " + doc.error().message);
  impl->schema_doc = std::move(doc).value();
  impl->compiled = std::make_unique<rapidjson::SchemaDocument>(impl->schema_doc);
  return JsonSchema(std::move(impl));
}

namespace {

std::string pointer_text(const rapidjson::Pointer& p) {
  rapidjson::StringBuffer sb;
  p.Stringify(sb);
  std::string s(sb.GetString(), sb.GetSize());
  return s.empty() ? "/" : s;
}

std::string join(const std::string& base, const std::string& key) {
  return (base == "/" ? "" : base) + "/" + key;
}

std::string type_name(const rapidjson::Value& v) {
  switch (v.GetType()) {
    case rapidjson::kNullType: return "null";
    case rapidjson::kFalseType: case rapidjson::kTrueType: return "a boolean";
    case rapidjson::kObjectType: return "an object";
    case rapidjson::kArrayType: return "an array";
    case rapidjson::kStringType: return "a string";
    case rapidjson::kNumberType: return v.IsInt64() || v.IsUint64() ? "an integer" : "a number";
  }
  return "a value";
}

// Builds the message for the first violation from the failing keyword, the schema node that
// holds it and the document node it was applied to.
std::string describe(const rapidjson::Value& schema_node, const std::string& keyword,
                     const rapidjson::Value* doc_node, const std::string& where) {
  auto kw = schema_node.FindMember(keyword.c_str());
  const rapidjson::Value* kv = kw == schema_node.MemberEnd() ? nullptr : &kw->value;
  if (keyword == "additionalProperties") return "unknown field '" + where + "'";
  if (keyword == "required" && kv && kv->IsArray() && doc_node && doc_node->IsObject()) {
    for (const auto& r : kv->GetArray())
      if (!doc_node->HasMember(r)) return "missing required field '" + join(where, r.GetString()) + "'";
  }
  std::string field = "field '" + where + "'";
  auto desc = schema_node.FindMember("description");
  std::string hint = desc != schema_node.MemberEnd() && desc->value.IsString()
                         ? std::string(" (") + desc->value.GetString() + ")"
                         : "";
  if (keyword == "type" && kv) {
    std::string want = kv->IsString() ? kv->GetString() : json::to_string(*kv);
    return field + " must be " + (want == "integer" || want == "object" || want == "array" ? "an " : "a ") +
           want + (doc_node ? ", not " + type_name(*doc_node) : "") + hint;
  }
  if ((keyword == "minimum" || keyword == "maximum") && kv) {
    bool excl = schema_node.HasMember(keyword == "minimum" ? "exclusiveMinimum" : "exclusiveMaximum");
    return field + " must be " + (keyword == "minimum" ? (excl ? "greater than " : "at least ")
                                                       : (excl ? "less than " : "at most ")) +
           json::to_string(*kv) + hint;
  }
  if (keyword == "minLength" && kv) return field + " must have at least " + json::to_string(*kv) + " characters" + hint;
  if (keyword == "maxLength" && kv) return field + " must have at most " + json::to_string(*kv) + " characters" + hint;
  if (keyword == "minItems" && kv) return field + " must have at least " + json::to_string(*kv) + " item(s)" + hint;
  if (keyword == "maxItems" && kv) return field + " must have at most " + json::to_string(*kv) + " item(s)" + hint;
  if (keyword == "pattern" && kv) return field + " does not match " + json::to_string(*kv) + hint;
  if (keyword == "enum" && kv) return field + " must be one of " + json::to_string(*kv) + hint;
  if (keyword == "oneOf" || keyword == "anyOf" || keyword == "not")
    return field + " is not valid here" + (hint.empty() ? "" : hint);
  return field + " is invalid (" + keyword + ")" + hint;
}

}  // namespace

Status JsonSchema::validate(const rapidjson::Value& doc) const {
  std::lock_guard lk(impl_->mu);
  rapidjson::SchemaValidator validator(*impl_->compiled);
  if (doc.Accept(validator)) return ok();
  std::string keyword = validator.GetInvalidSchemaKeyword();
  const rapidjson::Value* schema_node = validator.GetInvalidSchemaPointer().Get(impl_->schema_doc);
  rapidjson::Pointer doc_ptr = validator.GetInvalidDocumentPointer();
  if (keyword == "additionalProperties") {
    // RapidJSON reports where the walk was when it noticed (possibly inside the unknown
    // member's value). The object schema's depth in the document is the number of
    // properties/items hops in its schema pointer; the unknown key is the next token.
    size_t depth = 0;
    const auto& sp = validator.GetInvalidSchemaPointer();
    for (size_t i = 0; i < sp.GetTokenCount(); ++i) {
      std::string t(sp.GetTokens()[i].name, sp.GetTokens()[i].length);
      if (t == "properties" || t == "items" || t == "additionalProperties") ++depth;
    }
    if (depth < doc_ptr.GetTokenCount()) {
      rapidjson::Pointer cut;
      for (size_t i = 0; i <= depth; ++i) cut = cut.Append(doc_ptr.GetTokens()[i]);
      doc_ptr = cut;
    }
  }
  std::string where = pointer_text(doc_ptr);
  const rapidjson::Value* doc_node = doc_ptr.Get(doc);
  if (!schema_node) return make_error(Code::kInvalidArgument, "field '" + where + "' is invalid (" + keyword + ")");
  return make_error(Code::kInvalidArgument, describe(*schema_node, keyword, doc_node, where));
}

Result<rapidjson::Document> parse_and_validate(std::string_view text, const JsonSchema& schema) {
  BERTH_TRY(rapidjson::Document doc, parse(text));
  BERTH_CHECK(schema.validate(doc));
  return doc;
}

}  // namespace berth::json
