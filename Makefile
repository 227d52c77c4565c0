# Shortcuts for the scripts; the scripts themselves need no make.
.PHONY: test lint types bench demo bootstrap
bootstrap:
	bash scripts/bootstrap.sh
test:
	bash scripts/test.sh
lint: bootstrap
	.venv/bin/ruff check src tests testing && .venv/bin/ruff format --check src tests testing
types: bootstrap
	.venv/bin/mypy
bench:
	bash scripts/bench.sh
demo:
	bash scripts/demo.sh
