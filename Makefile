# Two commands for a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
PG_ADMIN_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test lint venv services browser clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	mkdir -p var
	$(BIN)/bdhai migrate
	$(BIN)/bdhai curriculum load
	$(BIN)/bdhai load-demo
	@$(BIN)/bdhai demo-info --url http://$(HOST):$(PORT)
	$(BIN)/uvicorn app.main:create_app --factory --host $(HOST) --port $(PORT) --proxy-headers --forwarded-allow-ips 127.0.0.1,::1 --no-server-header

lint: $(STAMP)
	$(BIN)/ruff check app tests migrations bench
	$(BIN)/ruff format --check app tests bench

# Start the local PostgreSQL and Redis when they are down; fail loudly when they cannot start.
services:
	@bash scripts/ensure-services.sh

# Debian's Chromium for the browser tests (Playwright drives /usr/bin/chromium).
browser:
	@bash scripts/ensure-chromium.sh

test: $(STAMP) services browser lint
	@echo "== tests on SQLite"
	BDHAI_TEST_DATABASE=sqlite $(BIN)/pytest
	@echo "== tests on PostgreSQL"
	BDHAI_TEST_DATABASE=$(PG_ADMIN_URL) BDHAI_TEST_REDIS_URL=$(TEST_REDIS_URL) $(BIN)/pytest

clean:
	rm -rf $(VENV) var test-artifacts
