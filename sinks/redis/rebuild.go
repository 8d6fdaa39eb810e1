package redis

import (
	"context"
	"crypto/sha1" //nolint:gosec // Redis names scripts by their SHA-1; not a security use
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"

	goredis "github.com/redis/go-redis/v9"
)

// hashScript replaces the fields of one hash atomically:
//
//	KEYS[1]  the key
//	ARGV[1]  TTL in milliseconds, 0 = none (PERSIST)
//	ARGV[2]  n, the number of fields to keep as they are (unchanged TOAST)
//	ARGV[3..2+n]          the kept fields
//	ARGV[3+n..]           field, value pairs to set
//
// Fields neither kept nor set (NULL now, or dropped) are deleted.
const hashScript = `local key = KEYS[1]
local nkeep = tonumber(ARGV[2])
local first = 3 + nkeep
local want = {}
for i = 3, first - 1 do want[ARGV[i]] = true end
for i = first, #ARGV, 2 do want[ARGV[i]] = true end
local del = {}
for _, f in ipairs(redis.call('HKEYS', key)) do
  if not want[f] then del[#del + 1] = f end
end
for i = 1, #del, 1000 do
  redis.call('HDEL', key, unpack(del, i, math.min(i + 999, #del)))
end
for i = first, #ARGV, 1000 do
  redis.call('HSET', key, unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
local ttl = tonumber(ARGV[1])
if ttl > 0 then redis.call('PEXPIRE', key, ttl) else redis.call('PERSIST', key) end
return #del
`

var hashScriptSHA = func() string {
	h := sha1.Sum([]byte(hashScript)) //nolint:gosec // see import
	return hex.EncodeToString(h[:])
}()

// loadScripts loads the hash script (on every master of a cluster).
func (s *Sink) loadScripts(ctx context.Context) error {
	if s.cfg.Mode != ModeHash {
		return nil
	}
	if err := s.client.ScriptLoad(ctx, hashScript).Err(); err != nil {
		return fmt.Errorf("loading the hash script: %w", err)
	}
	return nil
}

type rebuildState struct {
	written map[string]struct{} // keys upserted since BeginRebuild
}

// RebuildProgress is a snapshot of a rebuild's counters.
type RebuildProgress struct {
	Active      bool  // between BeginRebuild and the end of FinishRebuild
	KeysWritten int64 // distinct keys upserted since BeginRebuild
	KeysSwept   int64 // stale keys FinishRebuild deleted so far
}

// RebuildProgress reports the running (or last) rebuild's counters.
func (s *Sink) RebuildProgress() RebuildProgress {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := RebuildProgress{KeysSwept: s.swept}
	if s.rebuild != nil {
		p.Active = true
		p.KeysWritten = int64(len(s.rebuild.written))
	}
	return p
}

// BeginRebuild starts recording the keys written from now on; the runtime
// then replays the sink's topics from the earliest offset. Calling it again
// restarts the recording. A template with an empty static prefix cannot be
// swept: BeginRebuild refuses it with ErrNoPrefix, before any replay.
func (s *Sink) BeginRebuild(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		return ErrNotOpen
	}
	if s.tmpl != nil && s.tmpl.Prefix() == "" {
		return fmt.Errorf("%w (key %q)", ErrNoPrefix, s.tmpl)
	}
	s.rebuild = &rebuildState{written: map[string]struct{}{}}
	s.swept = 0
	s.metrics.rebuildWritten.Set(0)
	s.log.Info("rebuild began")
	return ctx.Err()
}

// FinishRebuild is called once the replay caught up: it deletes every key
// under the sink's prefixes (SCAN MATCH prefix*, on every master of a
// cluster) that no Write upserted since BeginRebuild — keys whose deletes
// were compacted away. Writes may run meanwhile: each SCAN page is swept
// under the write lock, so a key a Write creates is never taken for stale.
// On error the rebuild stays active and FinishRebuild may be called again.
func (s *Sink) FinishRebuild(ctx context.Context) error {
	s.mu.Lock()
	if s.client == nil {
		s.mu.Unlock()
		return ErrNotOpen
	}
	rb := s.rebuild
	if rb == nil {
		s.mu.Unlock()
		return ErrNotRebuilding
	}
	prefixes := s.sweepPrefixesLocked()
	s.mu.Unlock()

	var total int64
	for _, p := range prefixes {
		n, err := s.sweep(ctx, p, rb.written, true)
		total += n
		if err != nil {
			return fmt.Errorf("redis: sweeping %s*: %w", p, err)
		}
	}
	s.mu.Lock()
	written := len(rb.written)
	if s.rebuild == rb {
		s.rebuild = nil
	}
	s.mu.Unlock()
	s.log.Info("rebuild finished", "keys_written", written, "keys_swept", total)
	return nil
}

// sweepPrefixesLocked lists the prefixes holding the sink's keys.
func (s *Sink) sweepPrefixesLocked() []string {
	if s.tmpl != nil {
		return []string{s.tmpl.Prefix()}
	}
	ps := make([]string, 0, len(s.tables))
	for t := range s.tables {
		if t != "" {
			ps = append(ps, s.cfg.Pipeline+":"+t+":")
		}
	}
	sort.Strings(ps)
	return ps
}

func (s *Sink) noteTable(t string) {
	if _, ok := s.tables[t]; !ok && s.tmpl == nil {
		s.tables[t] = struct{}{}
	}
}

// sweep deletes the keys starting with prefix that keep does not hold (all
// of them when keep is nil), on every master, and returns how many it
// deleted. With lock, each SCAN page is filtered and deleted under s.mu
// (rebuild, concurrent with Write); without, the caller holds s.mu (a
// truncate inside Write).
func (s *Sink) sweep(ctx context.Context, prefix string, keep map[string]struct{}, lock bool) (int64, error) {
	if lock {
		s.mu.Lock()
	}
	client, cluster := s.client, s.cluster
	if lock {
		s.mu.Unlock()
	}
	if client == nil {
		return 0, ErrNotOpen
	}
	pattern := globEscape(prefix) + "*"
	var mu sync.Mutex // guards total across the masters' goroutines
	var total int64
	one := func(ctx context.Context, c goredis.Cmdable) error {
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, pattern, 1000).Result()
			if err != nil {
				return err
			}
			if lock {
				s.mu.Lock()
			}
			n, err := s.unlinkStale(ctx, c, keys, keep)
			if lock {
				s.swept += n
				s.metrics.rebuildSwept.Add(float64(n))
				s.mu.Unlock()
			}
			mu.Lock()
			total += n
			mu.Unlock()
			if err != nil {
				return err
			}
			if next == 0 {
				return nil
			}
			cursor = next
		}
	}
	var err error
	if cluster != nil {
		err = cluster.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error { return one(ctx, c) })
	} else {
		err = one(ctx, client)
	}
	return total, err
}

func (s *Sink) unlinkStale(ctx context.Context, c goredis.Cmdable, keys []string, keep map[string]struct{}) (int64, error) {
	pipe := c.Pipeline()
	var cmds []*goredis.IntCmd
	for _, k := range keys {
		if _, ok := keep[k]; ok {
			continue
		}
		cmds = append(cmds, pipe.Unlink(ctx, k))
	}
	if len(cmds) == 0 {
		return 0, nil
	}
	_, _ = pipe.Exec(ctx)
	var n int64
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			return n, err
		}
		n += c.Val()
	}
	return n, nil
}

// globEscape escapes the glob metacharacters of SCAN MATCH.
func globEscape(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
