// Command conc runs change-on-command deploys: the plans of a deploy file,
// job by job, on the operator's workstation and on nodes over SSH.
package main

import (
	"context"
	"os"
)

func main() {
	ctx, stop := interruptContext(context.Background(), os.Stderr)
	defer stop()
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
