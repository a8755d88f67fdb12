-- flext-logging records in ClickHouse: the portable layout, for every server from 18.16 on
-- (no DateTime64, no JSON type, no data-skipping indexes). {database} and {table} are
-- replaced by flext_logging.outputs.clickhouse.ddl(); see docs/clickhouse.md.
--
-- Rows come from ClickHouseOutput (INSERT ... FORMAT JSONEachRow, no settings needed):
-- the head, process_id and context fields in typed columns, every other field (the
-- call's own, error, metadata) as one JSON object in `fields`, losslessly.

CREATE DATABASE IF NOT EXISTS {database};

CREATE TABLE IF NOT EXISTS {database}.{table}
(
    -- RFC 3339 UTC with microseconds, fixed width (2024-05-06T07:08:09.123456Z): sorts as time.
    timestamp String,
    time DateTime MATERIALIZED parseDateTimeBestEffort(timestamp),
    microsecond UInt32 MATERIALIZED toUInt32(substring(timestamp, 21, 6)),
    date Date MATERIALIZED toDate(time),
    level String,
    logger String,
    message String,
    -- os.getpid() of the writer; 0: the record had none (or not a whole number: then
    -- it is in `fields`). Tables made before this column keep it in `fields`.
    process_id UInt32,
    correlation_id String,
    parent_correlation_id String,
    trace_id String,
    span_id String,
    request_id String,
    service_name String,
    service_version String,
    environment String,
    user_id String,
    operation_name String,
    operation String,
    fields String,
    -- The insert a row came in: a retried insert is first checked against it.
    batch_id String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(date)
ORDER BY (correlation_id, timestamp);

-- Request id, trace id and parent correlation -> the correlations that carry them: what
-- `flext-logging trace` looks up before it reads the records by correlation.
CREATE TABLE IF NOT EXISTS {database}.{table}_ids
(
    kind String,
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
