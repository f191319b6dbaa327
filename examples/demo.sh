#!/bin/sh
# make demo: deploy examples/pyapp to conc's built-in demo node, a loopback
# SSH server run by conc itself for the current user. Needs only what make
# build needs, and python3 with its venv module; sshfs is used when present.
set -eu
cd "$(dirname "$0")/.."
conc=bin/conc
demo=.demo

# A mount left by an interrupted demo must go before its directory does.
if [ -d "$demo/node/local-bundle" ]; then
	fusermount3 -u "$demo/node/local-bundle" 2>/dev/null || fusermount -u "$demo/node/local-bundle" 2>/dev/null || true
fi
rm -rf "$demo"
mkdir -p "$demo"

python3 examples/pyapp/build.py examples/pyapp/dist >/dev/null

"$conc" node serve --root "$demo/node" --write "$demo/node.ini" 2>"$demo/node.log" &
node=$!
trap 'kill $node 2>/dev/null || true; wait $node 2>/dev/null || true' EXIT INT TERM
# The node writes its deploy-file section once it listens.
tries=0
while [ ! -f "$demo/node.ini" ]; do
	tries=$((tries + 1))
	if [ $tries -gt 100 ] || ! kill -0 $node 2>/dev/null; then
		echo "demo: the demo node did not start:" >&2
		cat "$demo/node.log" >&2
		exit 1
	fi
	sleep 0.1
done

set -x
"$conc" -f examples/pyapp/conc.ini -f "$demo/node.ini" --state-dir "$demo/state" deploy demo
set +x
echo
echo "The app, installed in its venv on the node ($demo/node/home):"
"$demo/node/home/venvs/hello-conc/bin/hello-conc"
echo
set -x
"$conc" -f examples/pyapp/conc.ini -f "$demo/node.ini" test demo
set +x
