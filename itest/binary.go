package itest

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Kafka is an Apache Kafka broker, the reference our compatibility tests run
// the same scenarios against; scripts/kafka/kafka up starts one.
var Kafka = &Service{Name: "Apache Kafka", Env: "SLUICE_KAFKA_BOOTSTRAP"}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds ./cmd/sluice once per test binary and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sluice-itest-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "sluice")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/sluicehq/sluice/cmd/sluice").CombinedOutput()
		if err != nil {
			buildErr = errors.New("building sluice: " + err.Error() + "\n" + string(out))
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Sluice runs the sluice binary with args and returns its exit status and
// combined output.
func Sluice(t testing.TB, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(Binary(t), args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String()
	default:
		t.Fatalf("running sluice %s: %v", strings.Join(args, " "), err)
		return -1, ""
	}
}

// MustSluice is Sluice that fails t unless the command exits 0.
func MustSluice(t testing.TB, args ...string) string {
	t.Helper()
	code, out := Sluice(t, args...)
	if code != 0 {
		t.Fatalf("sluice %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}
