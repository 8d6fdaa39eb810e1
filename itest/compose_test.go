package itest

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestDockerCompose checks docker-compose.yml: with `docker compose config`
// where the Compose plugin exists, and always structurally, so a machine
// without Docker still catches a broken file.
func TestDockerCompose(t *testing.T) {
	t.Parallel()
	path := filepath.Join("..", "docker-compose.yml")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range [][]string{{"docker", "compose"}, {"docker-compose"}} {
		if exec.Command(tool[0], append(tool[1:], "version")...).Run() != nil {
			continue
		}
		args := append(tool[1:], "-f", path, "config", "-q")
		if out, err := exec.Command(tool[0], args...).CombinedOutput(); err != nil {
			t.Errorf("%s rejects %s: %v\n%s", strings.Join(tool, " "), path, err, out)
		}
		break
	}

	var f struct {
		Services map[string]struct {
			Image       string   `yaml:"image"`
			Build       any      `yaml:"build"`
			Command     []string `yaml:"command"`
			Environment map[string]string
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
	want := map[string][]string{
		"postgres":      {"wal_level=logical"},
		"mysql":         {"--binlog-format=ROW", "--binlog-row-image=FULL", "--gtid-mode=ON"},
		"elasticsearch": nil,
		"redis":         nil,
		"sluice":        {"run"},
	}
	for name, flags := range want {
		svc, ok := f.Services[name]
		if !ok {
			t.Errorf("%s: service %q missing", path, name)
			continue
		}
		if svc.Image == "" && svc.Build == nil {
			t.Errorf("%s: service %q has neither image nor build", path, name)
		}
		for _, fl := range flags {
			if !slices.Contains(svc.Command, fl) {
				t.Errorf("%s: service %q command %v lacks %q", path, name, svc.Command, fl)
			}
		}
	}
	if f.Services["sluice"].Build == nil {
		t.Errorf("%s: sluice must be built from the Dockerfile", path)
	}
	if _, err := os.Stat(filepath.Join("..", "Dockerfile")); err != nil {
		t.Errorf("Dockerfile: %v", err)
	}
}
