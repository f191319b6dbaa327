package bundle

import (
	"time"

	"github.com/concdeploy/conc/channel"
)

// The lock record and journal cross the channel as the channel's own
// types; these convert them, at the two edges where the disk meets the
// wire: the agent, and the workstation's agent client.

// Wire is l as the channel carries it; nil for nil.
func (l *Lock) Wire() *channel.Record {
	if l == nil {
		return nil
	}
	return &channel.Record{
		DeployID: l.DeployID, Holder: l.Holder, PID: l.PID, Node: l.Node, Plan: l.Plan, PlanHash: l.PlanHash,
		Steps: l.Steps, Started: l.Started, Params: l.Params, AgentPID: l.AgentPID, Session: l.Session,
		Attached: l.Attached, Detached: l.Detached, Journal: WireEntries(l.Journal),
	}
}

// LockFromWire is the lock record r carried; nil for nil.
func LockFromWire(r *channel.Record) *Lock {
	if r == nil {
		return nil
	}
	return &Lock{
		DeployID: r.DeployID, Holder: r.Holder, PID: r.PID, Node: r.Node, Plan: r.Plan, PlanHash: r.PlanHash,
		Steps: r.Steps, Started: r.Started, Params: r.Params, AgentPID: r.AgentPID, Session: r.Session,
		Attached: r.Attached, Detached: r.Detached, Journal: EntriesFromWire(r.Journal),
	}
}

// WireEntries are entries as the channel carries them.
func WireEntries(entries []Entry) []channel.Entry {
	if entries == nil {
		return nil
	}
	out := make([]channel.Entry, len(entries))
	for i, e := range entries {
		out[i] = channel.Entry{Step: e.Step, Seq: e.Seq, Host: e.Host, Op: e.Op, Status: e.Status,
			Message: e.Message, Change: e.Change, Duration: int64(e.Duration), Ended: e.Ended}
	}
	return out
}

// EntriesFromWire are the journal entries the channel carried.
func EntriesFromWire(entries []channel.Entry) []Entry {
	if entries == nil {
		return nil
	}
	out := make([]Entry, len(entries))
	for i, e := range entries {
		out[i] = Entry{Step: e.Step, Seq: e.Seq, Host: e.Host, Op: e.Op, Status: e.Status,
			Message: e.Message, Change: e.Change, Duration: Duration(time.Duration(e.Duration)), Ended: e.Ended}
	}
	return out
}
