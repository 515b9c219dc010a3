#include <gtest/gtest.h>

#include <string>

#include "common/json.hpp"
#include "common/json_schema.hpp"

namespace berth::json {
namespace {

std::string nested(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(JsonParse, RefusesDeepNestingWithoutRecursing) {
  // 300 KB of '[' used to overflow the stack of the recursive parser (SIGSEGV).
  auto r = parse(std::string(300 * 1024, '['));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  EXPECT_NE(r.error().message.find("nested deeper than 64 levels"), std::string::npos) << r.error().message;
}

TEST(JsonParse, DepthCapIsExact) {
  EXPECT_TRUE(parse(nested(kMaxDepth)).has_value());
  auto r = parse(nested(kMaxDepth + 1));
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("at offset 64"), std::string::npos) << r.error().message;
  std::string objects;
  for (size_t i = 0; i <= kMaxDepth; ++i) objects += "{\"a\":";
  objects += "1" + std::string(kMaxDepth + 1, '}');
  EXPECT_FALSE(parse(objects).has_value());
}

TEST(JsonParse, SyntaxErrorsStillNameTheOffset) {
  auto r = parse(R"({"a": 1,)");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("malformed JSON at offset"), std::string::npos) << r.error().message;
  EXPECT_FALSE(parse("").has_value());
  EXPECT_FALSE(parse("{} x").has_value());
  auto ok = parse(R"({"a": [1, 2.5, "s", true, null, {"b": -3}]})");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(to_string(*ok), R"({"a":[1,2.5,"s",true,null,{"b":-3}]})");
}

TEST(JsonParse, ValidatesTheDeepestAllowedDocument) {
  auto schema = JsonSchema::compile(R"({"type": "array"})");
  ASSERT_TRUE(schema.has_value());
  EXPECT_TRUE(parse_and_validate(nested(kMaxDepth), *schema).has_value());
  EXPECT_FALSE(parse_and_validate(std::string(100000, '['), *schema).has_value());
}

TEST(JsonStrings, MapKeysKeepNulAndDoNotCollide) {
  auto doc = parse(R"({"env": {"A\u0000x": "1", "A": "2"}})");
  ASSERT_TRUE(doc.has_value());
  auto m = get_string_map(*doc, "env");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m.at(std::string("A\0x", 3)), "1");
  EXPECT_EQ(m.at("A"), "2");
}

TEST(JsonStrings, FindNulNamesTheField) {
  auto at = [](const char* text) {
    auto doc = parse(text);
    EXPECT_TRUE(doc.has_value()) << text;
    auto where = find_nul(*doc);
    return where ? *where : std::string("none");
  };
  EXPECT_EQ(at(R"({"a": ["x", "y"], "b": {"c": "d"}})"), "none");
  EXPECT_EQ(at(R"({"a": ["x", "y\u0000z"]})"), "/a/1");
  EXPECT_EQ(at(R"({"b": {"c\u0000": "d"}})"), "/b/c\\u0000");
  EXPECT_EQ(at(R"({"b": {"c": "\u0000"}})"), "/b/c");
  EXPECT_EQ(at(R"("\u0000")"), "/");
}

}  // namespace
}  // namespace berth::json
