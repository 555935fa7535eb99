// EngineTest: an engine over a memory store, events written as the body member of an NDJSON line,
// and the table read back by row. Shared by the engine's test files.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "processor/engine.h"
#include "state/memory_store.h"
#include "tools/cluster/checked.h"

namespace kpi {

using Cell = std::pair<int64_t, int64_t>;  // count, base

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override { Open("2026-03-18"); }  // a Wednesday

  void Open(const char* as_of) {
    engine_.reset();
    store_ = std::make_unique<state::MemoryStore>();
    options_.as_of = *Date::Parse(as_of);
    engine_ = kpi::testing::Checked(Engine::Open(*store_, calendar_, options_), "Engine::Open");
  }

  // recorded_at: minute `n` after 2026-01-01T00:00:00Z.
  static std::string Ts(int n) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "2026-01-%02dT%02d:%02d:00Z", 1 + n / 1440, n / 60 % 24, n % 60);
    return buf;
  }

  // Applies one event; `body` is the body member, e.g. R"("contact":{"contactDate":"..."})".
  ApplyOutcome Add(const std::string& id, const std::string& child, int t, const std::string& body,
                   bool deleted = false) {
    const std::string line = "{\"eventId\":\"" + id + "\",\"childId\":\"" + child +
                             "\",\"recordedAt\":\"" + Ts(t) + "\"" +
                             (deleted ? ",\"deleted\":true" : "") + "," + body + "}";
    // A failure ends the test (gtest reports the exception) instead of reading an empty result.
    auto event = DecodeJson(line);
    if (!event) {
      throw std::runtime_error("undecodable (" + std::string(ReasonCode(event.error())) +
                               "): " + line);
    }
    auto valid = Validate(*event, options_.as_of);
    if (!valid) {
      throw std::runtime_error("invalid (" + std::string(ReasonCode(valid.error())) + "): " + line);
    }
    return kpi::testing::Checked(engine_->Apply(*valid), "Engine::Apply");
  }

  std::vector<Row> Commit() {
    std::vector<Row> changed = kpi::testing::Checked(engine_->PrepareCommit(), "PrepareCommit");
    kpi::testing::Checked(store_->Write(engine_->TakeBatch()), "MemoryStore::Write");
    return changed;
  }

  // The value of one row of the final table; (0, 0) when the row is absent.
  Cell At(const char* kpi, const char* week, const std::string& dim = "all") {
    Commit();
    const std::vector<Row> rows = engine_->Table().value();
    for (const Row& row : rows) {
      if (KpiName(row.kpi) == kpi && row.week.ToString() == week && row.dimension == dim) {
        EXPECT_TRUE(row.count != 0 || row.base != 0);
        return {row.count, row.base};
      }
    }
    return {0, 0};
  }

  // The whole table after a commit, a line per row ("kpi week dimension count/base"), for
  // comparing two states of the engine.
  std::string TableText() {
    Commit();
    std::string out;
    const std::vector<Row> rows = engine_->Table().value();
    for (const Row& row : rows) {
      out += std::string(KpiName(row.kpi)) + " " + row.week.ToString() + " " + row.dimension + " " +
             std::to_string(row.count) + "/" + std::to_string(row.base) + "\n";
    }
    return out;
  }

  int64_t Count(const char* kpi, const char* week, const std::string& dim = "all") {
    return At(kpi, week, dim).first;
  }

  // Every row of one kpi: week -> (count, base), of one dimension ("all" unless given).
  std::map<std::string, Cell> Weeks(const char* kpi, const std::string& dim = "all") {
    Commit();
    std::map<std::string, Cell> out;
    const std::vector<Row> rows = engine_->Table().value();
    for (const Row& row : rows) {
      if (KpiName(row.kpi) == kpi && row.dimension == dim) {
        out[row.week.ToString()] = {row.count, row.base};
      }
    }
    return out;
  }

  static std::string Contact(const char* date) {
    return std::string("\"contact\":{\"contactDate\":\"") + date + "\"}";
  }
  static std::string Profile(const char* effective, const char* dob, const char* sen,
                             const char* urn) {
    std::string b = std::string("\"profile\":{\"effectiveDate\":\"") + effective + "\"";
    if (*dob) b += std::string(",\"dateOfBirth\":\"") + dob + "\"";
    if (*sen) b += std::string(",\"senStatus\":\"") + sen + "\"";
    if (*urn) b += std::string(",\"schoolUrn\":\"") + urn + "\"";
    return b + "}";
  }
  static std::string Mark(const char* urn, const char* date, const char* session,
                          const char* code) {
    return std::string("\"attendance\":{\"schoolUrn\":\"") + urn + "\",\"date\":\"" + date +
           "\",\"session\":\"" + session + "\",\"code\":\"" + code + "\"}";
  }

  Calendar calendar_;
  EngineOptions options_;
  std::unique_ptr<state::MemoryStore> store_;
  std::unique_ptr<Engine> engine_;
};

}  // namespace kpi
