// The output topic's encodings (row_formats.h): what Kafka Connect's JsonConverter, the JDBC sink
// and PostgreSQL's COPY are given.
#include "processor/row_formats.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <string>

#include "kpi.pb.h"
#include "processor/output.h"

namespace kpi {
namespace {

Row MakeRow(std::string dimension) {
  Row row{Kpi::kContacts, *Date::Parse("2026-03-02"), std::move(dimension), 7, 3, 12, 0};
  return row;
}

// 2026-12-06T15:21:05.123Z
constexpr int64_t kEmitted = 1796570465123;

google::protobuf::Struct ParseJson(const std::string& text) {
  google::protobuf::Struct doc;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(text, &doc).ok()) << text;
  return doc;
}

TEST(RowFormatsTest, UtcTimestampIsRfc3339WithMilliseconds) {
  EXPECT_EQ(UtcTimestamp(kEmitted), "2026-12-06T15:21:05.123Z");
  EXPECT_EQ(UtcTimestamp(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(UtcTimestamp(-1), "1969-12-31T23:59:59.999Z");
}

TEST(RowFormatsTest, ProtobufAndJsonValuesKeepTheirFieldsAndGainEmittedAt) {
  const Row row = MakeRow("school=100001");
  output::KpiRow proto;
  ASSERT_TRUE(proto.ParseFromString(RowValue(row, ValueFormat::kProtobuf, "2026-03-04", kEmitted)));
  EXPECT_EQ(proto.kpi(), "contacts");
  EXPECT_EQ(proto.week_start(), "2026-03-02");
  EXPECT_EQ(proto.dimension(), "school=100001");
  EXPECT_EQ(proto.count(), 7);
  EXPECT_EQ(proto.base(), 3);
  EXPECT_EQ(proto.as_of(), "2026-03-04");
  EXPECT_EQ(proto.revision(), 12U);
  EXPECT_EQ(proto.emitted_at(), "2026-12-06T15:21:05.123Z");
  EXPECT_EQ(RowValue(row, ValueFormat::kJson, "2026-03-04", kEmitted),
            R"({"kpi":"contacts","week_start":"2026-03-02","dimension":"school=100001",)"
            R"("count":7,"base":3,"as_of":"2026-03-04","revision":12,)"
            R"("emitted_at":"2026-12-06T15:21:05.123Z"})");
}

TEST(RowFormatsTest, ConnectJsonValueHasTheSchemaEnvelopeJsonConverterReads) {
  const google::protobuf::Struct doc =
      ParseJson(RowValue(MakeRow("year=Y7"), ValueFormat::kConnectJson, "2026-03-04", kEmitted));
  const auto& schema = doc.fields().at("schema").struct_value().fields();
  EXPECT_EQ(schema.at("type").string_value(), "struct");
  const auto& fields = schema.at("fields").list_value().values();
  ASSERT_EQ(fields.size(), 8);
  std::string names;
  for (const auto& f : fields) names += f.struct_value().fields().at("field").string_value() + ",";
  EXPECT_EQ(names, "kpi,week_start,dimension,count,base,as_of,revision,emitted_at,");
  // Dates and the emission time are Connect's logical types, so a sink makes date and
  // timestamp columns of them.
  EXPECT_EQ(fields[1].struct_value().fields().at("name").string_value(),
            "org.apache.kafka.connect.data.Date");
  EXPECT_EQ(fields[7].struct_value().fields().at("name").string_value(),
            "org.apache.kafka.connect.data.Timestamp");
  const auto& payload = doc.fields().at("payload").struct_value().fields();
  EXPECT_EQ(payload.at("kpi").string_value(), "contacts");
  EXPECT_EQ(payload.at("week_start").number_value(), Date::Parse("2026-03-02")->days());
  EXPECT_EQ(payload.at("dimension").string_value(), "year=Y7");
  EXPECT_EQ(payload.at("count").number_value(), 7);
  EXPECT_EQ(payload.at("base").number_value(), 3);
  EXPECT_EQ(payload.at("as_of").number_value(), Date::Parse("2026-03-04")->days());
  EXPECT_EQ(payload.at("revision").number_value(), 12);
  EXPECT_EQ(payload.at("emitted_at").number_value(), static_cast<double>(kEmitted));
}

TEST(RowFormatsTest, ConnectJsonKeyIsTheWarehousePrimaryKeyAndMapsBackToTheStringKey) {
  for (const std::string dimension : {"all", "school=100001", "sen=sen_support", "year=\"q\""}) {
    const Row row = MakeRow(dimension);
    const std::string key = RowKeyIn(row, KeyFormat::kConnectJson);
    const google::protobuf::Struct doc = ParseJson(key);
    const auto& payload = doc.fields().at("payload").struct_value().fields();
    const auto [kind, value] = SplitDimension(dimension);
    EXPECT_EQ(payload.at("dimension_kind").string_value(), kind);
    EXPECT_EQ(payload.at("dimension_value").string_value(), value);
    EXPECT_EQ(StringKeyOf(key, KeyFormat::kConnectJson), RowKey(row)) << key;
    EXPECT_EQ(RowKeyIn(row, KeyFormat::kString), RowKey(row));
  }
  EXPECT_EQ(StringKeyOf("not json", KeyFormat::kConnectJson), std::nullopt);
  EXPECT_EQ(StringKeyOf(R"({"payload":{"kpi":"contacts"}})", KeyFormat::kConnectJson),
            std::nullopt);
}

TEST(RowFormatsTest, PublishedValuesMarkSuppressedRowsAndDropTheirFigures) {
  const Row row = MakeRow("school=100002");
  output::KpiRow hidden;
  ASSERT_TRUE(hidden.ParseFromString(
      PublishedValue(row, true, ValueFormat::kProtobuf, "2026-03-04", kEmitted)));
  EXPECT_TRUE(hidden.suppressed());
  EXPECT_EQ(hidden.count(), 0);
  EXPECT_EQ(hidden.base(), 0);
  EXPECT_EQ(hidden.dimension(), "school=100002");
  EXPECT_EQ(hidden.revision(), 12U);
  output::KpiRow shown;
  ASSERT_TRUE(shown.ParseFromString(
      PublishedValue(row, false, ValueFormat::kProtobuf, "2026-03-04", kEmitted)));
  EXPECT_FALSE(shown.suppressed());
  EXPECT_EQ(shown.count(), 7);
  EXPECT_EQ(PublishedValue(row, true, ValueFormat::kJson, "2026-03-04", kEmitted),
            R"({"kpi":"contacts","week_start":"2026-03-02","dimension":"school=100002",)"
            R"("suppressed":true,"as_of":"2026-03-04","revision":12,)"
            R"("emitted_at":"2026-12-06T15:21:05.123Z"})");
  const google::protobuf::Struct doc =
      ParseJson(PublishedValue(row, true, ValueFormat::kConnectJson, "2026-03-04", kEmitted));
  const auto& payload = doc.fields().at("payload").struct_value().fields();
  EXPECT_TRUE(payload.at("count").has_null_value());
  EXPECT_TRUE(payload.at("suppressed").bool_value());
  EXPECT_EQ(doc.fields().at("schema").struct_value().fields().at("name").string_value(),
            "kpi.PublishedKpiRow");
}

TEST(RowFormatsTest, CsvQuotesWhatPostgresWouldMisreadAndNothingElse) {
  EXPECT_EQ(CsvHeader(),
            "kpi,week_start,dimension,count,base,dimension_kind,dimension_value,as_of\n");
  EXPECT_EQ(RowToCsv(MakeRow("school=100001"), "2026-03-04"),
            "contacts,2026-03-02,school=100001,7,3,school,100001,2026-03-04\n");
  // An empty field unquoted is NULL to COPY: "all" has an empty dimension value.
  EXPECT_EQ(RowToCsv(MakeRow("all"), "2026-03-04"),
            "contacts,2026-03-02,all,7,3,all,\"\",2026-03-04\n");
  EXPECT_EQ(RowToCsv(MakeRow("school=a,\"b\""), "2026-03-04"),
            "contacts,2026-03-02,\"school=a,\"\"b\"\"\",7,3,school,\"a,\"\"b\"\"\",2026-03-04\n");
}

}  // namespace
}  // namespace kpi
