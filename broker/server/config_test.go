package server

import (
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		wantErr []string
	}{
		{name: "ok", cfg: Config{DataDir: "d", Configs: map[string]string{"log.retention.ms": "5", "num.partitions": "3", "group.initial.rebalance.delay.ms": "0"}}},
		{name: "no data dir", cfg: Config{}, wantErr: []string{"data_dir: required"}},
		{name: "bad advertised", cfg: Config{DataDir: "d", AdvertisedAddr: "nohost"}, wantErr: []string{"advertised_addr"}},
		{name: "every bad key reported", cfg: Config{DataDir: "d", Configs: map[string]string{
			"log.retention.ms": "soon", "auto.create.topics.enable": "yes", "bogus": "1", "default.replication.factor": "0",
		}}, wantErr: []string{"configs.log.retention.ms", "configs.auto.create.topics.enable", "configs.bogus: unknown", "configs.default.replication.factor"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.cfg.Defaults()
			err := tc.cfg.Validate()
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrBadConfig) {
				t.Fatalf("err = %v", err)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestValidateTopicConfigs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		configs map[string]string
		ok      bool
	}{
		{map[string]string{"cleanup.policy": "compact"}, true},
		{map[string]string{"cleanup.policy": "delete,compact"}, true},
		{map[string]string{"cleanup.policy": "archive"}, false},
		{map[string]string{"retention.ms": "-1", "retention.bytes": "-1"}, true},
		{map[string]string{"retention.ms": "-2"}, false},
		{map[string]string{"segment.bytes": "1000"}, false},
		{map[string]string{"segment.bytes": "1048576", "segment.ms": "1000"}, true},
		{map[string]string{"max.message.bytes": "99999999999"}, false},
		{map[string]string{"min.insync.replicas": "0"}, false},
		{map[string]string{"min.cleanable.dirty.ratio": "1.5"}, false},
		{map[string]string{"compression.type": "producer", "message.timestamp.type": "CreateTime"}, true},
		{map[string]string{"compression.type": "zstd"}, false},
		{map[string]string{"message.timestamp.type": "LogAppendTime"}, true},
		{map[string]string{"message.timestamp.type": "AppendTime"}, false},
		{map[string]string{"unclean.leader.election.enable": "true", "preallocate": "false"}, true},
		{map[string]string{"confluent.tier.enable": "true"}, false},
	}
	for _, tc := range tests {
		err := validateTopicConfigs(tc.configs)
		if (err == nil) != tc.ok {
			t.Errorf("%v: err = %v", tc.configs, err)
		}
		if err != nil && !errors.Is(err, kerr.InvalidConfig) {
			t.Errorf("%v: %v is not INVALID_CONFIG", tc.configs, err)
		}
	}
}

func TestEditList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cur, edit string
		add       bool
		want      string
	}{
		{"delete", "compact", true, "delete,compact"},
		{"delete,compact", "compact", true, "delete,compact"},
		{"delete,compact", "delete", false, "compact"},
		{"compact", "delete", false, "compact"},
		{"", "compact", true, "compact"},
	}
	for _, tc := range tests {
		if got := editList(tc.cur, tc.edit, tc.add); got != tc.want {
			t.Errorf("editList(%q, %q, %v) = %q, want %q", tc.cur, tc.edit, tc.add, got, tc.want)
		}
	}
}

// TestBrokerDefaultsFlowIntoTopics: --config log.retention.ms sets the
// default of retention.ms, visible in DescribeConfigs with its source.
func TestBrokerDefaultsFlowIntoTopics(t *testing.T) {
	t.Parallel()
	b := startBroker(t, withBrokerConfig("log.retention.ms", "12345"))
	c := dialRaw(t, b.addr)
	c.createTopic("d", 1, map[string]string{"segment.bytes": "1048576"})
	if got := b.store.get(partitionDir(b.dir, "d", 0)).config(); got.RetentionMS != 12345 || got.SegmentBytes != 1048576 {
		t.Fatalf("log config %+v", got)
	}
	req := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "d"
	rr.ConfigNames = []string{"retention.ms", "segment.bytes", "cleanup.policy"}
	req.Resources = append(req.Resources, rr)
	br := kmsg.NewDescribeConfigsRequestResource()
	br.ResourceType, br.ResourceName = kmsg.ConfigResourceTypeBroker, "1"
	req.Resources = append(req.Resources, br)
	other := kmsg.NewDescribeConfigsRequestResource()
	other.ResourceType, other.ResourceName = kmsg.ConfigResourceTypeBroker, "7"
	req.Resources = append(req.Resources, other)
	req.IncludeSynonyms = true
	resp := c.roundTrip(req, 4).(*kmsg.DescribeConfigsResponse)
	got := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	for _, cfg := range resp.Resources[0].Configs {
		got[cfg.Name] = cfg
	}
	if len(got) != 3 {
		t.Fatalf("configs %v", got)
	}
	if c := got["retention.ms"]; *c.Value != "12345" || c.Source != srcStaticBroker || len(c.ConfigSynonyms) != 2 {
		t.Fatalf("retention.ms %+v", c)
	}
	if c := got["segment.bytes"]; *c.Value != "1048576" || c.Source != srcTopic {
		t.Fatalf("segment.bytes %+v", c)
	}
	if c := got["cleanup.policy"]; *c.Value != "delete" || c.Source != srcDefault {
		t.Fatalf("cleanup.policy %+v", c)
	}
	if r := resp.Resources[1]; r.ErrorCode != 0 || len(r.Configs) == 0 {
		t.Fatalf("broker resource %+v", r)
	}
	if r := resp.Resources[2]; r.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("other broker %+v", r)
	}
}

// TestStateSurvivesRestart: topics (ids, partitions, configs) and the
// cluster id are read back from the data dir.
func TestStateSurvivesRestart(t *testing.T) {
	t.Parallel()
	store, dir := newMemStore(), t.TempDir()
	b := startBrokerOn(t, store, dir)
	c := dialRaw(t, b.addr)
	c.createTopic("keep", 3, map[string]string{"cleanup.policy": "compact"})
	c.createTopic("gone", 1, nil)
	dt := kmsg.NewPtrDeleteTopicsRequest()
	dt.TopicNames = []string{"gone"}
	if r := c.roundTrip(dt, 5).(*kmsg.DeleteTopicsResponse); r.Topics[0].ErrorCode != 0 {
		t.Fatalf("delete %d", r.Topics[0].ErrorCode)
	}
	c.produce("keep", 2, makeBatch(batchOpts{}))
	id, cluster := b.s.lookup("keep").id, b.s.ClusterID()
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}

	b2 := startBrokerOn(t, store, dir)
	k := b2.s.lookup("keep")
	if k == nil || k.id != id || len(k.partitions) != 3 || !k.cfg.Compacted() || b2.s.lookup("gone") != nil {
		t.Fatalf("after restart: %+v gone=%v", k, b2.s.lookup("gone"))
	}
	if b2.s.ClusterID() != cluster {
		t.Fatal("cluster id changed")
	}
	if hw := k.partitions[2].hw.Load(); hw != 1 {
		t.Fatalf("high watermark %d", hw)
	}
}

func TestNewRefusesBadState(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := writeJSON(dir+"/"+topicsFileName, map[string]any{"version": 99}); err != nil {
		t.Fatal(err)
	}
	_, err := New(Config{DataDir: dir}, withLogOpener(newMemStore().open))
	if !errors.Is(err, ErrStateFile) {
		t.Fatalf("err = %v", err)
	}
	if _, err := New(Config{DataDir: t.TempDir()}, withLogOpener(nil)); !errors.Is(err, ErrNoLogStore) {
		t.Fatalf("without a log store: %v", err)
	}
}

func TestAdvertisableHost(t *testing.T) {
	t.Parallel()
	host, _ := os.Hostname()
	tests := []struct{ in, want string }{
		{"127.0.0.1", "127.0.0.1"},
		{"broker-1.example", "broker-1.example"},
		{"::1", "::1"},
		{"0.0.0.0", host},
		{"::", host},
		{"", host},
	}
	for _, tc := range tests {
		if got := advertisableHost(tc.in); got != tc.want {
			t.Errorf("advertisableHost(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestAlterConfigRefusedByLogChangesNothing: when a partition log refuses
// a config the topic table accepted, the topic keeps its old config
// everywhere.
func TestAlterConfigRefusedByLogChangesNothing(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	c := dialRaw(t, b.addr)
	c.createTopic("r", 2, nil)
	l1 := b.store.get(partitionDir(b.dir, "r", 1))
	l1.mu.Lock()
	l1.refuseConfig = kerr.InvalidConfig
	l1.mu.Unlock()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "r"
	cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	cfg.Name, cfg.Value = "retention.ms", kmsg.StringPtr("5")
	rr.Configs = append(rr.Configs, cfg)
	req.Resources = append(req.Resources, rr)
	resp := c.roundTrip(req, 1).(*kmsg.IncrementalAlterConfigsResponse)
	if resp.Resources[0].ErrorCode != kerr.InvalidConfig.Code {
		t.Fatalf("error %d", resp.Resources[0].ErrorCode)
	}
	tc, overrides := b.s.configOf(b.s.lookup("r"))
	if tc.RetentionMS == 5 || len(overrides) != 0 {
		t.Fatalf("table changed: %+v", overrides)
	}
	if got := b.store.get(partitionDir(b.dir, "r", 0)).config(); got.RetentionMS == 5 {
		t.Fatal("partition 0 kept the refused config")
	}
}

// TestOrphanPartitionDirsAreReported: a partition directory of no topic is
// named at Warn on open, and a topic re-created under that name starts empty.
func TestOrphanPartitionDirsAreReported(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.MkdirAll(dir+"/ghost-0", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/ghost-0/stale", []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	var mu sync.Mutex
	s, err := New(Config{DataDir: dir, Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))}, withLogOpener(newMemStore().open))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	if !strings.Contains(out, "ghost-0") || !strings.Contains(out, "level=WARN") {
		t.Fatalf("orphan not reported: %s", out)
	}
	if _, err := s.createTopic("ghost", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir + "/ghost-0/stale"); !os.IsNotExist(err) {
		t.Fatalf("stale file survived the re-create: %v", err)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *strings.Builder
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
