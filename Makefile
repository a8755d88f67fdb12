PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo quickstart test lint typecheck format bench bench-async bench-cli bench-presets bench-clickhouse soak clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# A gateway, a user service and a worker on 127.0.0.1 serve 20 checkouts, one of which fails;
# their JSON logs go to demo-logs/, then the failed request's trace and the stats are printed.
demo: $(STAMP)
	$(PY) examples/demo_system.py --logs-dir demo-logs

# One small workload in one process, logged as JSON lines and then on the console.
quickstart: $(STAMP)
	$(PY) examples/quickstart.py

bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) benchmarks/bench.py

# Not part of `make test`: async_output's caller-side cost against a synchronous write to a
# file, and its RSS growth against the byte budget (benchmarks/async_results.json).
bench-async: $(STAMP)
	$(PY) benchmarks/bench_async.py

# Not part of `make test`: writes a ~BENCH_CLI_MB MB multi-service log to .bench/, then times
# `flext-logging trace` against `grep -F`, `rg -F` and `jq` on it (benchmarks/cli_results.json).
BENCH_CLI_MB ?= 1024
BENCH_CLI_ARGS ?=
bench-cli: $(STAMP)
	mkdir -p .bench
	$(PY) benchmarks/generate_logs.py --output .bench/app.log --size-mb $(BENCH_CLI_MB) > .bench/id
	$(PY) benchmarks/bench_cli.py --log .bench/app.log --id "$$(sed -n 1p .bench/id)" \
		--fanout-id "$$(sed -n 2p .bench/id)" $(BENCH_CLI_ARGS)

# What each schema preset (configure(schema=...)) adds to logger.info, side by side with the
# flat schema in one run (benchmarks/preset_results.json).
bench-presets: $(STAMP)
	$(PY) benchmarks/bench_presets.py

# Not part of `make test`: starts Debian's clickhouse-server as a user process (temporary
# data directory, free port), loads ~BENCH_CLICKHOUSE_RECORDS records with ClickHouseOutput
# and reports records/s, then one trace look-up in ClickHouse next to `flext-logging trace`
# and `grep -F` on the same data as a file (benchmarks/clickhouse_results.json).
BENCH_CLICKHOUSE_RECORDS ?= 1000000
bench-clickhouse: $(STAMP)
	$(PY) benchmarks/bench_clickhouse.py --records $(BENCH_CLICKHOUSE_RECORDS)

# Not part of `make test`: logs for SOAK_SECONDS from threads and tasks, exits 1 on any loss
# (SOAK_ARGS=--async-output soaks the background writer; see docs/reliability.md).
SOAK_SECONDS ?= 60
SOAK_ARGS ?=
soak: $(STAMP)
	$(PY) benchmarks/soak.py --seconds $(SOAK_SECONDS) $(SOAK_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check flext_logging tests examples benchmarks
	$(PY) -m ruff format --check flext_logging tests examples benchmarks

typecheck: $(STAMP)
	$(PY) -m mypy --strict flext_logging examples benchmarks

test: lint typecheck
	$(PY) -m coverage erase
	$(PY) -m coverage run -m pytest
	$(PY) -m coverage report

clean:
	rm -rf $(VENV) .coverage .mypy_cache .ruff_cache .pytest_cache .cache

format: $(STAMP)
	$(PY) -m ruff format flext_logging tests examples benchmarks
	$(PY) -m ruff check --fix flext_logging tests examples benchmarks
