package connectors_test

import (
	"testing"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/sinks/redis"
)

// FuzzKeyTemplateAgrees checks that validation accepts exactly the Redis
// key templates the Redis sink parses: `pipeline validate` must not pass a
// file that `run` then refuses, nor refuse one it would run.
func FuzzKeyTemplateAgrees(f *testing.F) {
	for _, s := range []string{"customer:{id}", "t:{tenant}:{id}", "{id}", "a\\:{id}", "x", "{", "}", "{}", "{a{b}", "a:{id", "{a}}", "k:{ id }"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, err := redis.ParseTemplate(s)
		msg := connectors.KeyTemplateProblem(s)
		if (err == nil) != (msg == "") {
			t.Fatalf("template %q: sink says %v, validation says %q", s, err, msg)
		}
	})
}
