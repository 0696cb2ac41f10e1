# The two commands of the README: `make demo` and `make test`. Both install into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo plan-demo test bench eval-llm clean

install: $(STAMP)

# Every dependency comes from the lock, checked against its hashes (scripts/lock updates it);
# Backout itself is installed on top without resolving anything again.
$(STAMP): pyproject.toml requirements-dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

EXAMPLE := fakes/onlineboutique
DEMO_INPUTS := --topology $(EXAMPLE)/topology.yaml --changes $(EXAMPLE)/changes.json \
	--alerts $(EXAMPLE)/alert.json --at 2026-11-27T10:20:00Z

demo: install
	$(BIN)/python -m fakes.demo --transcript demo-transcript.txt

plan-demo: install
	$(BIN)/backout plan $(DEMO_INPUTS)
	BACKOUT_CONFIG=$(EXAMPLE)/backout.yaml $(BIN)/backout simulate $(DEMO_INPUTS)

test: install
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/check

bench: install
	$(BIN)/python -m benchmarks.planning
	$(BIN)/python -m benchmarks.engine
	$(BIN)/python -m benchmarks.slack
	$(BIN)/python -m benchmarks.llm
	$(BIN)/python -m benchmarks.llm_slack
	$(BIN)/python -m benchmarks.webhooks
	$(BIN)/python -m benchmarks.watch

# The model's part, scored offline on the recorded answers (benchmarks/llm_answers/); exit 1
# when an invented reference or an injection gets past the guard.
eval-llm: install
	$(BIN)/python -m benchmarks.eval_llm

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
