package group

import (
	"strings"
	"testing"
	"time"
)

func TestConfigFromKafka(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		in      map[string]string
		check   func(Config) bool
		wantErr string
	}{
		{"defaults", nil, func(c Config) bool { return c == DefaultConfig() }, ""},
		{"all keys", map[string]string{
			"group.min.session.timeout.ms": "1000", "group.max.session.timeout.ms": "60000",
			"group.initial.rebalance.delay.ms": "0", "group.max.size": "10",
			"offsets.retention.minutes": "60", "offsets.retention.check.interval.ms": "5000",
			"offset.metadata.max.bytes": "100", "log.retention.ms": "1", "offsets.topic.replication.factor": "1",
		}, func(c Config) bool {
			return c.MinSessionTimeout == time.Second && c.MaxSessionTimeout == time.Minute && c.InitialRebalanceDelay == 0 &&
				c.MaxGroupSize == 10 && c.OffsetsRetention == time.Hour && c.RetentionCheckEvery == 5*time.Second && c.MaxMetadataSize == 100
		}, ""},
		{"unknown key", map[string]string{"group.bogus": "1"}, nil, "group.bogus"},
		{"not a number", map[string]string{"group.max.size": "many"}, nil, "group.max.size"},
		{"inconsistent", map[string]string{"group.min.session.timeout.ms": "9000", "group.max.session.timeout.ms": "8000"}, nil, "group.max.session.timeout.ms"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := ConfigFromKafka(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want it to name %s", err, tc.wantErr)
				}
				return
			}
			if err != nil || !tc.check(c) {
				t.Fatalf("%+v %v", c, err)
			}
		})
	}
}
