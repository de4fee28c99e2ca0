.DEFAULT_GOAL := help
VENV := .venv
BIN := $(VENV)/bin

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(BIN)/ioc-hub:
	python3 -m venv $(VENV) && $(BIN)/pip install -q -e ".[dev]"

run: $(BIN)/ioc-hub ## Seed the demo registry into SQLite and serve on :8000
	$(BIN)/ioc-hub seed && $(BIN)/ioc-hub serve

test: ## Lint, type-check and run every test on SQLite and PostgreSQL
	./scripts/test

lint: $(BIN)/ioc-hub ## ruff (lint and format check) and mypy
	$(BIN)/ruff format --check ioc_hub tests bench migrations
	$(BIN)/ruff check ioc_hub tests bench migrations
	$(BIN)/mypy

format: $(BIN)/ioc-hub ## Format the code with ruff
	$(BIN)/ruff format ioc_hub tests bench migrations

openapi: $(BIN)/ioc-hub ## Regenerate openapi/openapi.json from the app
	$(BIN)/ioc-hub openapi

bench: $(BIN)/ioc-hub ## Run every benchmark, one table of figures and goals (QUICK=1: smoke run)
	$(BIN)/python -m bench $(if $(QUICK),--quick)

.PHONY: help run test lint format openapi bench
