# One entry point for developers; CI runs .ci/run, which runs the same scripts/test.sh.
# Pass pytest arguments with ARGS, e.g. make test ARGS="-k ids -x".
.DEFAULT_GOAL := help
.PHONY: help setup lint test

help: ## List the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-6s %s\n", $$1, $$2}'

setup: ## Install system packages (apt) and the .venv with the test extras
	DOUDI_TEST_ONLY=setup ./scripts/test.sh

lint: ## ruff and mypy
	DOUDI_TEST_ONLY=lint ./scripts/test.sh

test: ## Everything CI runs: setup, a throw-away PostgreSQL, ruff, mypy, pytest $(ARGS)
	./scripts/test.sh $(ARGS)
