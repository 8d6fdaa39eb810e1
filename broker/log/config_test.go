package log

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/vfs"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mut    func(c *Config)
		fields []string // every field the error must name; none = valid
	}{
		{"default", func(c *Config) {}, nil},
		{"compact,delete", func(c *Config) { c.CleanupPolicy = PolicyCompactDelete }, nil},
		{"several bad", func(c *Config) {
			c.SegmentBytes = 10
			c.CleanupPolicy = "shred"
			c.MinCleanableDirtyRatio = 2
			c.MaxMessageBytes = 0
			c.TimestampType = "Now"
		}, []string{"segment.bytes", "cleanup.policy", "min.cleanable.dirty.ratio", "max.message.bytes", "message.timestamp.type"}},
		{"negative durations", func(c *Config) { c.FlushMS = -1; c.DeleteRetentionMS = -1 }, []string{"flush.ms", "delete.retention.ms"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := DefaultConfig()
			tc.mut(&c)
			err := c.Validate()
			if len(tc.fields) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("err %v is not ErrInvalidConfig", err)
			}
			for _, f := range tc.fields {
				if !strings.Contains(err.Error(), f) {
					t.Fatalf("error %q does not name %s", err, f)
				}
			}
			if _, err := Open(vfs.NewMem(), "/p", c); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Open accepted a bad config: %v", err)
			}
			l := openT(t, vfs.NewMem(), DefaultConfig())
			defer l.Close()
			if err := l.SetConfig(c); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("SetConfig accepted a bad config: %v", err)
			}
		})
	}
}

func TestAppendCancelled(t *testing.T) {
	t.Parallel()
	l := openT(t, vfs.NewMem(), testConfig())
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Append(ctx, valueBatch(t, 1, 1, 1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	if l.EndOffset() != 0 {
		t.Fatal("cancelled append was written")
	}
}
