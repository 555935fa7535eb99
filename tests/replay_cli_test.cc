// The replay command end to end, through the real binary: output file, dead-letter file with the
// original lines, summary on stderr, exit codes.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

class ReplayCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kpi_replay_cli_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }
  static std::string Read(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  int Run(const std::string& args) {
    const std::string cmd = std::string(KPI_PROCESSOR_BIN) + " " + args + " 2>" +
                            (dir_ / "stderr.txt").string() + " >" + (dir_ / "stdout.txt").string();
    const int status = std::system(cmd.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::string Stderr() { return Read(dir_ / "stderr.txt"); }

  fs::path dir_;
};

constexpr const char* kEvents =
    R"({"eventId":"AS-1","childId":"C42","recordedAt":"2026-03-02T10:15:00Z","assessment":{"startDate":"2026-01-05"}}
{"eventId":"AS-1","childId":"C42","recordedAt":"2026-03-09T16:00:00Z","assessment":{"startDate":"2026-01-05","completionDate":"2026-03-06","authorisationDate":"2026-03-09"}}
{"eventId":"M1","childId":"C42","recordedAt":"2026-03-09T09:05:00Z","attendance":{"schoolUrn":"100001","date":"2026-03-09","session":"AM","code":"N"}}

{"eventId":"M1b","childId":"C42","recordedAt":"2026-03-10T11:00:00Z","attendance":{"schoolUrn":"100001","date":"2026-03-09","session":"AM","code":"I"}}
{"eventId":"BAD","childId":"C1","recordedAt":"2026-03-10T11:00:00Z","contact":{"contactDate":"2026-02-30"}}
not json at all
{"eventId":"AS-1","childId":"C42","recordedAt":"2026-03-01T10:15:00Z","assessment":{"startDate":"2026-01-06"}}
)";

TEST_F(ReplayCliTest, WritesTheSortedTableAndDeadLetters) {
  const std::string in = Write("in.ndjson", kEvents);
  const fs::path out = dir_ / "out.ndjson";
  const fs::path dlq = dir_ / "dlq.ndjson";
  ASSERT_EQ(Run("replay --input " + in + " --as-of 2026-03-15 --output " + out.string() +
                " --dlq " + dlq.string()),
            0)
      << Stderr();
  const std::string table = Read(out);
  // Mon 5 Jan is day 0; authorised Mon 9 Mar, the 45th working day after it: in timescale.
  EXPECT_NE(
      table.find(
          R"({"kpi":"assessments_in_timescale","week_start":"2026-03-09","dimension":"all","count":1,"base":1})"),
      std::string::npos)
      << table;
  EXPECT_NE(
      table.find(
          R"({"kpi":"absence_rate","week_start":"2026-03-09","dimension":"school=100001","count":1,"base":1})"),
      std::string::npos);
  EXPECT_NE(
      table.find(
          R"({"kpi":"unauthorised_absence_rate","week_start":"2026-03-09","dimension":"all","count":0,"base":1})"),
      std::string::npos);
  EXPECT_EQ(table.find(R"("count":0,"base":0)"), std::string::npos);
  EXPECT_LT(table.find("absence_rate"), table.find("assessments_authorised"));  // sorted by kpi
  const std::string dead = Read(dlq);
  EXPECT_NE(dead.find(R"({"reason":"bad_date","line":"{\"eventId\":\"BAD\")"), std::string::npos)
      << dead;
  EXPECT_NE(dead.find(R"({"reason":"undecodable","line":"not json at all")"), std::string::npos);
  const std::string summary = Stderr();
  EXPECT_NE(summary.find("events read     7"), std::string::npos) << summary;
  EXPECT_NE(summary.find("applied         4"), std::string::npos);
  EXPECT_NE(summary.find("stale           1"), std::string::npos);
  EXPECT_NE(summary.find("dead-lettered   2"), std::string::npos);
  EXPECT_NE(summary.find("events/s"), std::string::npos);
  // The summary and any message never carry record content.
  EXPECT_EQ(summary.find("C42"), std::string::npos);
}

TEST_F(ReplayCliTest, SeveralInputsAreReadInOrder) {
  const std::string a = Write(
      "a.ndjson",
      R"({"eventId":"CT","childId":"C1","recordedAt":"2026-03-02T10:00:00Z","contact":{"contactDate":"2026-03-02"}})"
      "\n");
  const std::string b = Write(
      "b.ndjson",
      R"({"eventId":"CT","childId":"C1","recordedAt":"2026-03-03T10:00:00Z","deleted":true,"contact":{}})"
      "\n");
  const fs::path out = dir_ / "out.ndjson";
  ASSERT_EQ(
      Run("replay --input " + a + " --input " + b + " --as-of 2026-03-15 --output " + out.string()),
      0);
  EXPECT_EQ(Read(out), "");
}

TEST_F(ReplayCliTest, ALinePastTheBoundIsDeadLetteredTooLargeAndTheRestIsRead) {
  const std::string contact =
      R"({"eventId":"CT","childId":"C1","recordedAt":"2026-03-02T10:00:00Z","contact":{"contactDate":"2026-03-02"}})";
  const std::string padded =
      R"({"eventId":"PAD","childId":"C2","recordedAt":)"
      R"("2026-03-02T10:00:00Z","contact":{"contactDate":"2026-03-02"},"x":")" +
      std::string(5000, 'x') + "\"}";
  // Lines of exactly the bound, one past it, and far past it (no newline at the end).
  const std::string at_bound = padded.substr(0, padded.size() - 5000 - 2) +
                               std::string(2048 - (padded.size() - 5000 - 2) - 2, 'x') + "\"}";
  ASSERT_EQ(at_bound.size(), 2048u);
  const std::string one_past = at_bound.substr(0, 10) + "x" + at_bound.substr(10);
  const std::string in = Write(
      "in.ndjson", at_bound + "\n" + one_past + "\n" + contact + "\n" + std::string(3000000, '['));
  const fs::path out = dir_ / "out.ndjson";
  const fs::path dlq = dir_ / "dlq.ndjson";
  ASSERT_EQ(Run("replay --input " + in + " --as-of 2026-03-15 --max-record-bytes 2048 --output " +
                out.string() + " --dlq " + dlq.string()),
            0)
      << Stderr();
  const std::string dead = Read(dlq);
  EXPECT_NE(dead.find(R"({"reason":"too_large","bytes":2049,"source":")"), std::string::npos)
      << dead.substr(0, 300);
  EXPECT_NE(dead.find(R"({"reason":"too_large","bytes":3000000,"source":")"), std::string::npos);
  EXPECT_LT(dead.size(), 1000u);  // sizes and places, not the lines
  EXPECT_NE(Stderr().find("too_large         2"), std::string::npos) << Stderr();
  EXPECT_NE(Stderr().find("events read     4"), std::string::npos) << Stderr();
  // The line at the bound and the one after the long line were applied (two children).
  EXPECT_NE(
      Read(out).find(R"({"kpi":"contacts","week_start":"2026-03-02","dimension":"all","count":2)"),
      std::string::npos)
      << Read(out);
}

// Splits an NDJSON table line into its five values, in the CSV's order and text:
// kpi,week_start,dimension,count,base.
std::string CsvPrefixOf(const std::string& line) {
  std::string out;
  for (const char* field :
       {"\"kpi\":\"", "\"week_start\":\"", "\"dimension\":\"", "\"count\":", "\"base\":"}) {
    const size_t at = line.find(field);
    if (at == std::string::npos) return "?";
    const size_t from = at + std::strlen(field);
    const size_t to = line.find_first_of(field[std::strlen(field) - 1] == '"' ? "\"" : ",}", from);
    out += line.substr(from, to - from) + ",";
  }
  out.pop_back();
  return out;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST_F(ReplayCliTest, TheCsvTableHasTheNdjsonRowsAndAStateExportsTheSameTable) {
  const fs::path events = dir_ / "events.ndjson";
  ASSERT_EQ(std::system((std::string(KPI_GEN_BIN) + " --children 150 --weeks 8 --seed 5 --output " +
                         events.string())
                            .c_str()),
            0);
  const std::string in = events.string();
  const fs::path ndjson = dir_ / "table.ndjson";
  const fs::path csv = dir_ / "table.csv";
  ASSERT_EQ(Run("replay --input " + in + " --as-of 2025-10-27 --output " + ndjson.string()), 0)
      << Stderr();
  ASSERT_EQ(Run("replay --input " + in + " --as-of 2025-10-27 --output-format csv --output " +
                csv.string()),
            0)
      << Stderr();
  const std::vector<std::string> rows = Lines(Read(ndjson));
  const std::vector<std::string> csv_lines = Lines(Read(csv));
  ASSERT_GT(rows.size(), 1000u);
  ASSERT_EQ(csv_lines.size(), rows.size() + 1);
  EXPECT_EQ(csv_lines[0],
            "kpi,week_start,dimension,count,base,dimension_kind,dimension_value,as_of");
  for (size_t i = 0; i < rows.size(); ++i) {
    // No generated dimension needs quoting; the row_formats test covers quoting.
    const std::string prefix = CsvPrefixOf(rows[i]);
    ASSERT_EQ(csv_lines[i + 1].substr(0, prefix.size() + 1), prefix + ",") << rows[i];
    ASSERT_TRUE(csv_lines[i + 1].ends_with(",2025-10-27")) << csv_lines[i + 1];
  }
  // The same history into a state directory (three tasks), then exported: the same tables.
  const fs::path state = dir_ / "state";
  ASSERT_EQ(
      Run("replay --input " + in + " --as-of 2025-10-27 --output " + (dir_ / "ignored").string() +
          " --state " + state.string() + " --partitions 3 --memory-mb 1"),
      0)
      << Stderr();
  ASSERT_EQ(Run("state export --path " + state.string() + " --format csv --output " +
                (dir_ / "export.csv").string()),
            0)
      << Stderr();
  EXPECT_EQ(Read(dir_ / "export.csv"), Read(csv));
  ASSERT_EQ(Run("state export --path " + state.string() + " --format ndjson"), 0) << Stderr();
  EXPECT_EQ(Read(dir_ / "stdout.txt"), Read(ndjson));
  EXPECT_EQ(Run("state export --path " + state.string() + " --format xml"), 2);
  EXPECT_NE(Stderr().find("--format must be ndjson or csv, got 'xml'"), std::string::npos)
      << Stderr();
  EXPECT_EQ(Run("state export --path " + (dir_ / "none").string()), 3);
}

TEST_F(ReplayCliTest, ThePublishedViewHasEveryRowAndHidesTheSmallOnes) {
  const fs::path events = dir_ / "events.ndjson";
  ASSERT_EQ(std::system((std::string(KPI_GEN_BIN) + " --children 150 --weeks 8 --seed 5 --output " +
                         events.string())
                            .c_str()),
            0);
  const std::string args = "replay --input " + events.string() + " --as-of 2025-10-27 --output ";
  ASSERT_EQ(Run(args + (dir_ / "exact.ndjson").string()), 0) << Stderr();
  ASSERT_EQ(Run(args + (dir_ / "published.ndjson").string() + " --view published"), 0) << Stderr();
  ASSERT_EQ(Run(args + (dir_ / "all.ndjson").string() + " --view published --small-count 0"), 0);
  const std::vector<std::string> exact = Lines(Read(dir_ / "exact.ndjson"));
  const std::vector<std::string> published = Lines(Read(dir_ / "published.ndjson"));
  const std::vector<std::string> all = Lines(Read(dir_ / "all.ndjson"));
  ASSERT_EQ(published.size(), exact.size());
  ASSERT_EQ(all.size(), exact.size());
  size_t hidden = 0;
  for (size_t i = 0; i < exact.size(); ++i) {
    // --small-count 0: the table's line with "suppressed":false after base.
    ASSERT_EQ(all[i], exact[i].substr(0, exact[i].size() - 1) + ",\"suppressed\":false}");
    const bool small = exact[i].find("\"count\":1,") != std::string::npos ||
                       exact[i].find("\"base\":1}") != std::string::npos;
    const bool suppressed = published[i].ends_with("\"suppressed\":true}");
    if (small) {
      EXPECT_TRUE(suppressed) << exact[i];
    }
    if (suppressed) {
      ++hidden;
      EXPECT_EQ(published[i].find("\"count\""), std::string::npos) << published[i];
    } else {
      EXPECT_EQ(published[i], all[i]);
    }
  }
  EXPECT_GT(hidden, exact.size() / 4);
  EXPECT_EQ(Run(args + "x --view published --output-format csv"), 2);
  // A warning window longer than its limit (KPIS-3.md section 4).
  EXPECT_EQ(Run(args + "x --limit ehc_decision_warning_days=43"), 2);
  EXPECT_NE(Stderr().find("ehc_decision_warning_days (43) is greater than ehc_decision_days (42)"),
            std::string::npos)
      << Stderr();
  EXPECT_EQ(Run(args + "x --limit assessment_warning_days=0"), 0) << Stderr();
  EXPECT_EQ(Run(args + "x --view everything"), 2);
  EXPECT_NE(Stderr().find("--view must be exact or published"), std::string::npos) << Stderr();
}

TEST_F(ReplayCliTest, BadArgumentsFailWithAClearMessage) {
  EXPECT_NE(Run("replay --input x --as-of 15/03/2026 --output y"), 0);
  EXPECT_NE(Stderr().find("--as-of must be YYYY-MM-DD"), std::string::npos) << Stderr();
  EXPECT_EQ(Run("replay --input " + (dir_ / "missing.ndjson").string() +
                " --as-of 2026-03-15 --output " + (dir_ / "o").string()),
            1);
  EXPECT_NE(Stderr().find("cannot read input"), std::string::npos) << Stderr();
  EXPECT_NE(Run(""), 0);
}

TEST_F(ReplayCliTest, HelpDocumentsTheCommand) {
  EXPECT_EQ(Run("replay --help"), 0);
  const std::string help = Read(dir_ / "stdout.txt");
  for (const char* word : {"--input", "--as-of", "--output", "--dlq", "--closure"}) {
    EXPECT_NE(help.find(word), std::string::npos) << word;
  }
}

}  // namespace
