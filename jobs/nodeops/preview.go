package nodeops

import (
	"context"
	"errors"
	"fmt"
	"path"

	"github.com/concdeploy/conc/jobs"
)

var (
	_ jobs.Previewer = createVenvAction{}
	_ jobs.Previewer = pipInstallAction{}
	_ jobs.Previewer = setupInstallAction{}
)

// Preview says where the venv would be, and that it needs python3.
func (a createVenvAction) Preview(context.Context, jobs.PreviewEnv) jobs.Preview {
	return jobs.Preview{What: "would create the venv " + a.path + " with python3 -m venv",
		Commands: []string{"python3"}, Makes: []string{path.Join(a.path, "bin", "python")}}
}

// Preview needs the venv's python.
func (a pipInstallAction) Preview(_ context.Context, env jobs.PreviewEnv) jobs.Preview {
	return venvPreview(env, a.venv, fmt.Sprintf("would pip install %s from the bundle only", jobs.QuoteAll(a.specs)))
}

// Preview needs the venv's python.
func (a setupInstallAction) Preview(_ context.Context, env jobs.PreviewEnv) jobs.Preview {
	return venvPreview(env, a.venv, "would run setup.py install in the bundle directory matching "+a.glob)
}

func venvPreview(env jobs.PreviewEnv, venv, what string) jobs.Preview {
	if venv == "" {
		venv = env.Params()[ParamVenv]
	}
	if venv == "" {
		return jobs.Preview{Err: errors.New("no venv: set venv = PATH in the deploy file or pass --venv")}
	}
	return jobs.Preview{What: what + " into the venv " + venv, Needs: []string{path.Join(venv, "bin", "python")}}
}
