package sshconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
	"golang.org/x/sync/errgroup"

	"github.com/concdeploy/conc/config"
)

// KeyState is what known_hosts says of a host key a scan found.
type KeyState string

// The states of a scanned key.
const (
	KeyKnown   KeyState = "known"
	KeyNew     KeyState = "new"
	KeyChanged KeyState = "CHANGED" // never recorded: conc refuses it always
)

// HostKey is a host's key as ScanHostKeys found it: the node's, or one of
// its jump hosts'.
type HostKey struct {
	Node        string // the node scanned
	Host        string // whose key: the node, or a jump host's name
	Addr        string // host:port, as known_hosts names it
	Key         ssh.PublicKey
	Fingerprint string
	KnownHosts  string
	State       KeyState
}

// host names the host as its known_hosts file does, and id the key too:
// what conc hostkeys counts as the same host, and the same key.
func (k HostKey) host() string { return k.KnownHosts + "\x00" + k.Addr }
func (k HostKey) id() string   { return k.host() + "\x00" + k.Fingerprint }

func (k HostKey) String() string {
	host := k.Host
	if k.Host != k.Node {
		host = fmt.Sprintf("%s's jump host %s", k.Node, k.Host)
	}
	return fmt.Sprintf("%s (%s) %s %s in %s", host, k.Addr, k.Key.Type(), k.Fingerprint, k.KnownHosts)
}

// PrintRecorded returns a DialOptions.Recorded that says on w which key
// was recorded, one line at a time from any number of dials.
func PrintRecorded(w io.Writer) func(HostKey) {
	var mu sync.Mutex
	return func(k HostKey) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "conc: recorded the host key of %s\n", k)
	}
}

// errScanned ends a handshake once the host key is seen: a scan never
// authenticates to a host it does not yet trust.
var errScanned = errors.New("host key scanned")

// ScanHostKeys reads the host keys of t's jump hosts and of t, in order,
// against their known_hosts, without authenticating to any host whose key
// is not known. It goes through a jump host only once its key is known; so
// it stops at the first hop that is new or changed, and complete says
// whether it reached t. Nothing is recorded.
func ScanHostKeys(ctx context.Context, t Target, opts DialOptions) (keys []HostKey, complete bool, err error) {
	c := newConn(t, opts)
	defer c.closeAll()
	var via *ssh.Client
	for i, h := range t.Jumps {
		k, client, err := c.scanOne(ctx, via, t.Name, h, true)
		if err != nil {
			return keys, false, hopError(t, i, err)
		}
		keys = append(keys, k)
		if client == nil {
			return keys, false, nil
		}
		c.hops = append(c.hops, client)
		via = client
	}
	k, _, err := c.scanOne(ctx, via, t.Name, t, false)
	if err != nil {
		return keys, false, fmt.Errorf("scan the host key of %s (%s)%s: %w", t.Name, t.Addr, through(t.Jumps), err)
	}
	return append(keys, k), true, nil
}

// scanOne reads h's host key. For a jump host whose key is known it also
// logs in (go through), and returns the client.
func (c *Conn) scanOne(ctx context.Context, via *ssh.Client, node string, h Target, through bool) (HostKey, *ssh.Client, error) {
	keys, err := newHostKeys(h.KnownHosts, h.Name, false)
	if err != nil {
		return HostKey{}, nil, err
	}
	var mu sync.Mutex
	found := HostKey{Node: node, Host: h.Name, Addr: h.Addr, KnownHosts: h.KnownHosts}
	cfg := &ssh.ClientConfig{
		User:              h.User,
		HostKeyAlgorithms: keys.algorithms(h.Addr),
		Timeout:           c.timeout,
		HostKeyCallback: func(hostname string, remote net.Addr, key ssh.PublicKey) error {
			mu.Lock()
			defer mu.Unlock()
			found.Key, found.Fingerprint = key, ssh.FingerprintSHA256(key)
			var ke *knownhosts.KeyError
			switch err := keys.check(hostname, remote, key); {
			case err == nil:
				found.State = KeyKnown
				if through {
					return nil
				}
			case errors.As(err, &ke) && len(ke.Want) > 0:
				found.State = KeyChanged
			case errors.As(err, &ke):
				found.State = KeyNew
			default:
				return err
			}
			return errScanned
		},
	}
	if through {
		a, err := authMethods(h.Identity, h.WithAgent)
		if err != nil {
			return HostKey{}, nil, err
		}
		c.closeAuth = append(c.closeAuth, a.close)
		cfg.Auth = a.methods
	}
	nc, err := c.dialTCP(ctx, via, h.Addr)
	if err != nil {
		return HostKey{}, nil, err
	}
	client, err := handshake(ctx, nc, h.Addr, cfg, c.timeout)
	mu.Lock()
	defer mu.Unlock()
	switch {
	case found.State == "":
		if err == nil {
			err = errors.New("the handshake ended before the host showed a key")
		}
		return HostKey{}, nil, err
	case errors.Is(err, errScanned):
		return found, nil, nil
	case err != nil:
		return HostKey{}, nil, err
	}
	return found, client, nil
}

// RecordHostKeys appends keys to their known_hosts files, each once.
func RecordHostKeys(keys []HostKey) error {
	seen := map[string]bool{}
	for _, k := range keys {
		if k.State != KeyNew || seen[k.id()] {
			continue
		}
		seen[k.id()] = true
		if _, err := appendKnownHost(k.KnownHosts, k.Addr, k.Key); err != nil {
			return fmt.Errorf("record the key of %s (%s): %w", k.Host, k.Addr, err)
		}
	}
	return nil
}

// NodeScan is the host keys ScanNodes found for one node, or why it could
// not read them.
type NodeScan struct {
	Node     string
	Keys     []HostKey
	Complete bool // every key up to the node's was read
	Err      error
}

// ScanNodes scans the host keys of nodes, parallel at a time, in their
// order.
func ScanNodes(ctx context.Context, f *config.File, nodes []*config.Node, opts DialOptions, parallel int) []NodeScan {
	out := make([]NodeScan, len(nodes))
	var g errgroup.Group
	g.SetLimit(max(parallel, 1))
	for i, n := range nodes {
		g.Go(func() error {
			out[i].Node = n.Name
			t, err := TargetOf(n, f.Dir)
			if err != nil {
				out[i].Err = err
				return nil
			}
			out[i].Keys, out[i].Complete, out[i].Err = ScanHostKeys(ctx, t, opts)
			return nil
		})
	}
	g.Wait()
	return out
}
