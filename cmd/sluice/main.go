// Command sluice is the single Sluice binary: broker, connector runtime and
// admin tools. It only parses flags and wires packages together; behaviour
// lives in the packages it imports.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Exit statuses, as CONTRACTS.md fixes them.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run executes the CLI with args and returns the process exit status. It is
// separate from main so tests can drive the whole CLI in-process.
func run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cmd := newRootCmd()
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "sluice: %v\n", err)
	return exitStatus(err)
}

// exitStatus maps a command error to the process exit status.
func exitStatus(err error) int {
	var ue *usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailure
}
