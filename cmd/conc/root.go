package main

import (
	"github.com/spf13/cobra"
)

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "conc",
		Short: "change-on-command deploys: run a plan's jobs on a node, stop anywhere, resume later",
		Long: `conc runs the plans of a deploy file (conc.ini): ordered jobs, some on this
workstation, some on a node reached over SSH through a small agent. It stops at
the first job that is not OK and leaves the node locked by its bundle, so the
run can be inspected, fixed by hand and resumed.

Exit codes: 0 every job OK, 1 FAILED/ERROR/TIMED OUT, 2 usage or deploy-file
error (nothing was touched), 3 BLOCKED, 4 STOPPED.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringArrayVarP(&a.files, "file", "f", nil, "deploy file; repeat to layer files, later ones win (default $CONC_FILE, else the nearest conc.ini here or above)")
	pf.StringArrayVarP(&a.params, "param", "p", nil, "KEY=VALUE: set a param for this run, above the deploy file; repeatable; recorded in the journal and applied again by --resume")
	pf.StringVar(&a.color, "color", "auto", "colours and the live block: auto (on a terminal, unless NO_COLOR is set), always or never")
	pf.BoolVarP(&a.verbose, "verbose", "v", false, "show every job's output and conc's debug log")
	pf.StringVar(&a.logFile, "log-file", "", "append a JSON-lines log to FILE")
	pf.BoolVar(&a.acceptNew, "accept-new-host-keys", false, "record the host key of a node not yet in known_hosts (a changed key is always refused)")
	pf.StringVar(&a.stateDir, "state-dir", "", "where the local journal lives (default .conc/state next to the deploy file)")
	pf.StringVar(&a.agentDir, "agent-dir", "", "load the agents from DIR instead of the ones built in (for developing the agent)")
	pf.MarkHidden("agent-dir")
	pf.StringVar(&a.cpuProfile, "cpu-profile", "", "write a CPU profile to FILE")
	pf.MarkHidden("cpu-profile")
	root.AddCommand(
		a.deployCmd(), a.runCmd(), a.configCmd(), a.planCmd(), a.opsCmd(), a.versionCmd(), a.nodeCmd(), a.statusCmd(), a.unlockCmd(), a.testCmd(), a.checkCmd(), a.hostkeysCmd(),
		a.bundleCmd(), a.sshCmd(), a.cacheCmd(),
	)
	a.complete(root)
	return root
}
