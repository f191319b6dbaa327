# conc: make build writes bin/conc with the agents embedded.
GO       ?= go
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
ARCHS    := amd64 arm64
AGENTDIR := agentclient/agents
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: build agents test lint demo bench fuzz clean

build: agents
	$(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o bin/conc ./cmd/conc

# The agent is static and stripped, one per architecture, with its sha256
# next to it so conc need not hash it at start.
agents:
	@for arch in $(ARCHS); do \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags "-s -w" \
			-o $(AGENTDIR)/conc-agent-linux-$$arch ./cmd/conc-agent || exit 1; \
		sha256sum $(AGENTDIR)/conc-agent-linux-$$arch | cut -d' ' -f1 > $(AGENTDIR)/conc-agent-linux-$$arch.sha256; \
	done

test: build
	$(GO) test -count=1 ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt: $$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# The main job on the built-in demo node: no sshd needed.
demo: build
	./examples/demo.sh

# Benchmarks against a loopback OpenSSH sshd, as ratios to baselines taken
# in the same run; the table goes to stdout, the figures to bench/results.json.
bench: build
	cd bench && $(GO) test -tags bench -run TestBench -count=1 -v -timeout 40m ./ -args -conc ../bin/conc -json results.json $(BENCHFLAGS)

# Every parser of what someone else wrote, fuzzed for FUZZTIME each, one
# after another (not part of make test). A finding is saved under the
# package's testdata/fuzz/ and fails the run: it becomes a regular test.
FUZZTIME ?= 10m
FUZZ := channel:FuzzRecv channel:FuzzDecode config:FuzzLoad config:FuzzExpand \
	jobs:FuzzSplit jobs/nodeops:FuzzUntar nodetest:FuzzCompile
# A run that fails with "context deadline exceeded" and writes no input is
# Go's fuzz coordinator racing its own deadline (golang/go#75804), not a
# finding: it is reported and the next target runs.
fuzz:
	@for t in $(FUZZ); do pkg=$${t%%:*}; fn=$${t##*:}; log=$$(mktemp); \
		echo "== $$fn in ./$$pkg for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$$fn$$" -fuzztime=$(FUZZTIME) ./$$pkg >$$log 2>&1; code=$$?; \
		grep -v '^fuzz: elapsed' $$log; \
		if [ $$code -ne 0 ]; then \
			if grep -q 'context deadline exceeded' $$log && ! grep -q 'Failing input written' $$log; then \
				echo "== $$fn: no finding; the run ended on Go's fuzz coordinator deadline race (golang/go#75804)"; \
			else rm -f $$log; exit 1; fi; \
		fi; rm -f $$log; \
	done

clean:
	rm -rf bin $(AGENTDIR)/conc-agent-linux-*
