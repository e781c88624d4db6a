// Command plugd runs and builds Dify-format plugins. Invoked as `dify` it answers the
// reference CLI's command tree, so scripts written for that CLI keep working.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/plugd/plugd/internal/cli"
	"github.com/plugd/plugd/internal/sandbox"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.2.0-dev" // PEP 440: 0.2.0.dev0, which the SDK's test runner accepts (it wants >= 0.1.0)

func main() {
	// Started as a plugin's sandbox init (internal/sandbox): that runs and never returns.
	sandbox.MaybeRunInit()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, cli.Env{
		Args:    os.Args,
		Stdin:   os.Stdin,
		Stdout:  os.Stdout,
		Stderr:  os.Stderr,
		Version: version,
	})
	stop()
	os.Exit(code)
}
