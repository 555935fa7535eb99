#include "processor/output.h"

#include <gtest/gtest.h>

namespace kpi {
namespace {

std::string Json(std::string_view s) {
  std::string out;
  AppendJsonString(out, s);
  return out;
}

TEST(JsonOutTest, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(Json("a\"b\\c\nd\x01"), "\"a\\\"b\\\\c\\nd\\u0001\"");
}

TEST(JsonOutTest, KeepsValidUtf8AndEscapesInvalidBytes) {
  EXPECT_EQ(Json("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
  EXPECT_EQ(Json("bad\xff"), "\"bad\\u00ff\"");
  EXPECT_FALSE(IsValidUtf8("\xc3"));
  EXPECT_TRUE(IsValidUtf8("\xe2\x82\xac"));
}

}  // namespace
}  // namespace kpi
