# sipflow — the two commands a fresh machine needs: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
NPM_STAMP := node_modules/.install-stamp

help:
	@echo "make run   - start the local stack (media pod on examples/, demo answer server, demo agent)"
	@echo "make test  - install what the tests need and run them all"

# Debian packages the tests drive as real peers (sipp). Installed only when missing.
os-deps:
	@command -v sipp >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sip-tester >/dev/null; }
	@command -v sipp >/dev/null 2>&1 || { echo "sipp (Debian sip-tester) could not be installed" >&2; exit 1; }

$(NPM_STAMP): package.json package-lock.json operator/package.json media-pod/package.json test/package.json
	npm ci --no-audit --no-fund
	@touch $@

npm-deps: $(NPM_STAMP)

build: npm-deps
	npx tsc -b

lint: npm-deps
	npx eslint .

# Python peers the tests drive: Plivo's stream SDK and Pipecat (a cached virtual environment).
python-deps:
	@bash tools/python/setup.sh >/dev/null

test: os-deps build lint python-deps
	SIPFLOW_REQUIRE_PYTHON_AGENTS=1 node test/run-tests.mjs all

unit: build
	node test/run-tests.mjs unit

run: build
	node test/dist/demo/local-stack.js

clean:
	rm -rf operator/dist media-pod/dist test/dist

.PHONY: help os-deps npm-deps python-deps build lint test unit run clean
