-- The warehouse table of kpi.results (PostgreSQL), one row per KPI row: the key's columns are its
-- primary key, so the JDBC sink upserts each revision over the last and deletes on a tombstone.
-- kpi-processor's output for it: output.format connect_json, output.key_format connect_json,
-- output.tombstones true (README, "For data warehouse teams").
CREATE TABLE IF NOT EXISTS kpi_results (
  kpi             text        NOT NULL,  -- KPIS.md's name, e.g. contacts
  week_start      date        NOT NULL,  -- the Monday of the week
  dimension_kind  text        NOT NULL,  -- all, school, year, sen, ...
  dimension_value text        NOT NULL,  -- '' for all
  dimension       text        NOT NULL,  -- as in the NDJSON table: all, school=100001, ...
  count           bigint      NOT NULL,
  base            bigint      NOT NULL,  -- a rate's denominator; 0 for plain counts
  as_of           date        NOT NULL,  -- the reporting date of this revision
  revision        bigint,                -- grows with every change; NULL after a CSV first load
  emitted_at      timestamptz,           -- when the revision was produced; NULL after a CSV load
  PRIMARY KEY (kpi, week_start, dimension_kind, dimension_value)
);
