# The two commands in README.md: `make demo` and `make test`. Both install what they need.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: install test lint typecheck demo screenshots fuzz package package-test bench

install:
	bash scripts/install-deps.sh

lint: install
	$(VENV)/bin/ruff check lambda_gui tests bench scripts
	$(VENV)/bin/ruff format --check lambda_gui tests bench scripts

typecheck: install
	$(VENV)/bin/mypy lambda_gui

test: lint typecheck
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -p no:cacheprovider tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

# Every benchmark against its reference, side by side; writes docs/benchmarks.md (run it on a
# quiet machine: the benchmarks run one after the other, never together).
bench: install
	QT_QPA_PLATFORM=offscreen $(PY) bench/run_all.py

fuzz: install
	FUZZ_EXAMPLES=2000 QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -p no:cacheprovider tests/fuzz

demo: install
	@if [ -n "$$DISPLAY" ] || [ -n "$$WAYLAND_DISPLAY" ]; then \
		$(VENV)/bin/lambda-gui --demo; \
	else \
		echo "No display: running the demo headless."; \
		$(VENV)/bin/lambda-gui --demo --headless; \
	fi

# The desktop bundle (docs/packaging.md): build it, then check it as a user gets it.
package: install
	bash packaging/build.sh

package-test:
	bash packaging/test_package.sh
