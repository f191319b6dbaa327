package deploy

import (
	"context"

	"github.com/concdeploy/conc/agentclient"
	"github.com/concdeploy/conc/config"
	"github.com/concdeploy/conc/jobs"
)

// maxAhead bounds a run-ahead group: enough to cover a plan's stretch of
// remote jobs in one round trip, not so many that a large nodetest input
// repeated in each would weigh on the agent's memory.
const maxAhead = 64

// aheadGroup returns the steps, from st on, that go to the agent as one
// run-ahead group: consecutive remote jobs the agent runs, up to
// --stop-after's step, not past --stop-before's, and ending with a job
// that may stop the run on purpose (pause) or run sudo. A group of one is
// no group.
func (n *nodeRun) aheadGroup(st *config.Step) []*config.Step {
	steps := n.plan.Steps
	var group []*config.Step
	for i := st.Number - 1; i < len(steps) && len(group) < maxAhead; i++ {
		s := &steps[i]
		if s.Job.Host != jobs.Remote || s.Info.Here(jobs.Remote) || s.Info.Opens(jobs.Remote) || s.Number == n.stops.before {
			break
		}
		group = append(group, s)
		sudo, _ := s.Action.(jobs.SudoUser)
		if s.Number == n.stops.after || s.Info.Pauses || sudo != nil && sudo.NeedsSudo() {
			break
		}
	}
	if len(group) < 2 {
		return nil
	}
	return group
}

// sendAhead sends the run-ahead group that starts at st, if there is one.
func (n *nodeRun) sendAhead(st *config.Step) {
	group := n.aheadGroup(st)
	if group == nil {
		return
	}
	ids, err := n.agent.Ahead(n.aheadJobs(group, 0))
	if err != nil {
		return // Wait finds the session dead and says so
	}
	n.sentAhead(group, ids)
}

// aheadJobs are the group's jobs for the agent. Each gets the journal
// number it will have when the work loop comes to it: one more than the
// job before it, the first from off after the job running now.
func (n *nodeRun) aheadJobs(group []*config.Step, off int64) []agentclient.Job {
	js := make([]agentclient.Job, len(group))
	for k, s := range group {
		js[k] = agentclient.Job{Step: s.Number, Seq: n.seq + off + int64(k), Job: s.Job, Input: n.input(s)}
	}
	return js
}

// sentAhead notes the group the agent took, by the IDs it was sent with.
func (n *nodeRun) sentAhead(group []*config.Step, ids []uint32) {
	if len(group) == 0 || len(ids) != len(group) {
		return
	}
	n.log.Debug().Int("from", group[0].Number).Int("to", group[len(group)-1].Number).Msg("sent ahead")
	for k, s := range group {
		n.ahead[s.Number] = ids[k]
	}
	// Another node's failure drops the jobs not yet started at once, not
	// at the next result: "running nodes stop before their next job".
	agent, chain := n.agent, ids[0]
	n.aheadStop = n.rollout.OnHalt(func() { agent.DropGroup(chain) })
}

// aheadDone is called once no job of the group is awaited any more.
func (n *nodeRun) aheadDone() {
	if len(n.ahead) == 0 && n.aheadStop != nil {
		n.aheadStop()
		n.aheadStop = nil
	}
}

// settle ends a job sent ahead that the run must not go on with: after
// Ctrl-C it is canceled, when the rollout halted it is dropped. It returns
// the job's result and whether it ran; when it did not, the result says
// why the run stops before it.
func (n *nodeRun) settle(ctx context.Context, st *config.Step) (agentclient.Result, bool) {
	id := n.ahead[st.Number]
	why := jobs.Resultf(jobs.Stopped, "stopped by the operator")
	if ctx.Err() == nil {
		why = jobs.Resultf(jobs.Stopped, "%s", n.rollout.Halted())
		n.agent.Drop(id)
	}
	// Wait, with ctx canceled, cancels the job if it runs.
	r := n.agent.Wait(ctx, id, st.Job.Timeout)
	if !r.Dropped {
		return r, true // the work loop reports it as it ended
	}
	delete(n.ahead, st.Number)
	n.aheadDone()
	return agentclient.Result{Result: why}, false
}
