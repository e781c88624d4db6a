//go:build !linux

package runtime

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"time"

	"github.com/plugd/plugd/internal/sandbox"
)

// Zygotes need Linux (pidfd_open, PR_SET_PDEATHSIG); elsewhere every fork fails and plugins
// start the plain way.
type Zygotes struct{}

// ZygoteConfig configures Zygotes (see zygote_linux.go).
type ZygoteConfig struct {
	DataDir      string
	IdleStop     time.Duration
	StartTimeout time.Duration
	Preload      string
	Logger       *slog.Logger
}

func NewZygotes(ZygoteConfig) *Zygotes { return &Zygotes{} }

func (*Zygotes) Close(context.Context) error { return nil }

func (*Zygotes) Running() []int { return nil }

func (*Zygotes) Usage() (int, int64) { return 0, 0 }

func forkFromZygote(*LocalConfig, *slog.Logger, *logFile, *limiter, []string, *sandbox.Spec, []*os.File, []*os.File) (*instance, error) {
	return nil, errors.New("zygotes need Linux")
}
