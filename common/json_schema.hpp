// JsonSchema: a compiled JSON Schema (draft-04, RapidJSON's validator) that turns the first
// violation into a message a person can act on: it names the field by JSON pointer and says
// what was expected ("unknown field '/resources/gpu'", "field '/command' must have at least
// 1 item"). Compile once, validate from any thread (validations of one schema are serialized).
// Validation walks the document by recursion as deep as the document is nested: documents from
// json::parse() are at most json::kMaxDepth deep, so that walk is bounded; do not validate a
// value built another way from untrusted input.
#pragma once

#include <memory>
#include <string>

#include "common/json.hpp"

namespace berth::json {

class JsonSchema {
 public:
  // Compiles schema text; a broken schema is a programming error reported as kInternal.
  static Result<JsonSchema> compile(const std::string& schema_text);

  JsonSchema(JsonSchema&&) noexcept;
  JsonSchema& operator=(JsonSchema&&) noexcept;
  ~JsonSchema();

  // kInvalidArgument naming the field when `doc` does not conform.
  Status validate(const rapidjson::Value& doc) const;

 private:
  struct Impl;
  explicit JsonSchema(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Parses `text` and validates it: one call for a request body or a config file.
Result<rapidjson::Document> parse_and_validate(std::string_view text, const JsonSchema& schema);

}  // namespace berth::json
