# The two everyday commands: `make run` (the hub with demo data) and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test demo lint typecheck bench clean install

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required (looked for $(PYTHON))."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) manage.py migrate --no-input -v 0
	$(PY) manage.py collectstatic --no-input -v 0
	LOG_LEVEL=WARNING SITE_URL=http://$(HOST):$(PORT) $(PY) manage.py setup_demo --host $(HOST) --port $(PORT)
	SITE_URL=http://$(HOST):$(PORT) DEBUG=true $(PY) manage.py runserver $(HOST):$(PORT)

test: $(STAMP)
	$(PY) -m ruff check --quiet .
	$(PY) -m tests.servers $(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .

typecheck: $(STAMP)
	$(PY) -m mypy impactsupport tickets integrations chat faq

clean:
	rm -rf var $(VENV)
