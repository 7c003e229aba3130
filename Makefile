# dualtune: `make demo` runs the main job, `make test` the whole suite.
# Both install what they need first and are idempotent.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_PACKAGES := pkg-config libopencv-dev libturbojpeg0-dev chromium dataset-fashion-mnist postgresql
export RAY_TRAIN_HEALTH_CHECK_INTERVAL_S ?= 0.2
# `make test` leaves out the slow end-to-end tests (marked `slow`) unless CI is set (.ci/run sets it).
TEST_MARKS := $(if $(CI),,-m "not slow")

.PHONY: install system-deps demo lint test test-fast bench gpu-check reproduce ui clean

install: $(STAMP)

system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml | system-deps
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel
	$(BIN)/pip install -q numpy
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

demo: install
	$(BIN)/dualtune tune --space smoke

lint: install
	$(BIN)/ruff check .

test: install lint
	$(BIN)/python -m pytest -q $(TEST_MARKS) $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest -q -m "not service"

bench: install
	$(BIN)/python -m benchmarks

# On a GPU machine: CUDA tests, a ResNet-50 training run, a 2-trial GPU campaign (8 minutes at most).
gpu-check: install
	$(BIN)/python -m benchmarks.gpu_check

reproduce: install
	$(BIN)/dualtune study paper-fmnist --part all --report docs/reproduction.md

ui: install
	$(BIN)/dualtune ui

clean:
	rm -rf runs .pytest_cache
