package sshconn

import (
	"github.com/concdeploy/conc/config"
	"github.com/concdeploy/conc/sshtarget"
)

// Target is a node to connect to, resolved by sshtarget: where it is, who
// logs in with which key, its known_hosts and its jump hosts.
type Target = sshtarget.Target

// Setting is a connection setting ssh_config supplied, and where.
type Setting = sshtarget.Setting

// TargetOf resolves a node's connection; see sshtarget.TargetOf.
func TargetOf(n *config.Node, dir string) (Target, error) { return sshtarget.TargetOf(n, dir) }
