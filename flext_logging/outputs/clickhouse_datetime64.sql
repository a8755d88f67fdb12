-- flext-logging records in ClickHouse: the DateTime64 layout, for servers with DateTime64,
-- LowCardinality, data-skipping indexes and insert deduplication on MergeTree (ClickHouse
-- 22.8 and later). {database} and {table} are replaced by
-- flext_logging.outputs.clickhouse.ddl(); see docs/clickhouse.md.
--
-- Rows come from ClickHouseOutput(layout="datetime64"), which inserts them with
-- date_time_input_format=best_effort (the timestamp is RFC 3339 text) and
-- insert_deduplication_token=<batch id> (a retried insert is dropped by the server).

CREATE DATABASE IF NOT EXISTS {database};

CREATE TABLE IF NOT EXISTS {database}.{table}
(
    timestamp DateTime64(6, 'UTC'),
    date Date MATERIALIZED toDate(timestamp),
    level LowCardinality(String),
    logger LowCardinality(String),
    message String,
    -- os.getpid() of the writer; 0: the record had none (or not a whole number: then
    -- it is in `fields`). Tables made before this column keep it in `fields`.
    process_id UInt32,
    correlation_id String,
    parent_correlation_id String,
    trace_id String,
    span_id String,
    request_id String,
    service_name LowCardinality(String),
    service_version LowCardinality(String),
    environment LowCardinality(String),
    user_id String,
    operation_name LowCardinality(String),
    operation LowCardinality(String),
    fields String CODEC(ZSTD(3)),
    batch_id String,
    INDEX timestamp_range timestamp TYPE minmax GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (correlation_id, timestamp)
SETTINGS non_replicated_deduplication_window = 1000;

-- Request id, trace id and parent correlation -> the correlations that carry them: what
-- `flext-logging trace` looks up before it reads the records by correlation.
CREATE TABLE IF NOT EXISTS {database}.{table}_ids
(
    kind LowCardinality(String),
    id String,
    correlation_id String
)
ENGINE = ReplacingMergeTree
ORDER BY (kind, id, correlation_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.{table}_ids_mv TO {database}.{table}_ids AS
SELECT kind, id, correlation_id
FROM {database}.{table}
ARRAY JOIN
    ['request_id', 'trace_id', 'parent_correlation_id'] AS kind,
    [request_id, trace_id, parent_correlation_id] AS id
WHERE id != '' AND correlation_id != '';
