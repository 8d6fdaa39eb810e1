package itest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) { Main(m) }

func suffix() string { return fmt.Sprintf("%d_%d", time.Now().Unix(), rand.IntN(1_000_000)) }

// TestSmokePostgres creates a publication and a logical slot and reads one
// inserted row back through pgoutput.
func TestSmokePostgres(t *testing.T) {
	t.Parallel()
	dsn := Need(t, Postgres)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connecting to postgres: %v", err)
	}
	defer conn.Close(context.Background())
	s := suffix()
	table, pub, slot := "smoke_"+s, "smoke_pub_"+s, "smoke_slot_"+s
	for _, q := range []string{
		fmt.Sprintf("CREATE TABLE %s (id int PRIMARY KEY, name text)", table),
		fmt.Sprintf("CREATE PUBLICATION %s FOR TABLE %s", pub, table),
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		_, _ = conn.Exec(context.Background(), "DROP PUBLICATION IF EXISTS "+pub)
		_, _ = conn.Exec(context.Background(), "DROP TABLE IF EXISTS "+table)
	})

	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	repl, err := pgconn.Connect(ctx, dsn+sep+"replication=database")
	if err != nil {
		t.Fatalf("opening replication connection: %v", err)
	}
	defer repl.Close(context.Background())
	created, err := pglogrepl.CreateReplicationSlot(ctx, repl, slot, "pgoutput",
		pglogrepl.CreateReplicationSlotOptions{Temporary: true})
	if err != nil {
		t.Fatalf("creating slot: %v", err)
	}
	start, err := pglogrepl.ParseLSN(created.ConsistentPoint)
	if err != nil {
		t.Fatalf("parsing consistent point %q: %v", created.ConsistentPoint, err)
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf("INSERT INTO %s VALUES (42, 'hello')", table)); err != nil {
		t.Fatalf("insert: %v", err)
	}
	err = pglogrepl.StartReplication(ctx, repl, slot, start, pglogrepl.StartReplicationOptions{
		PluginArgs: []string{"proto_version '1'", "publication_names '" + pub + "'"},
	})
	if err != nil {
		t.Fatalf("starting replication: %v", err)
	}

	relations := map[uint32]*pglogrepl.RelationMessage{}
	for {
		msg, err := repl.ReceiveMessage(ctx)
		if err != nil {
			t.Fatalf("receiving replication message: %v", err)
		}
		cd, ok := msg.(*pgproto3.CopyData)
		if !ok || len(cd.Data) == 0 || cd.Data[0] != pglogrepl.XLogDataByteID {
			continue
		}
		xld, err := pglogrepl.ParseXLogData(cd.Data[1:])
		if err != nil {
			t.Fatalf("parsing XLogData: %v", err)
		}
		lm, err := pglogrepl.Parse(xld.WALData)
		if err != nil {
			t.Fatalf("parsing pgoutput message: %v", err)
		}
		switch m := lm.(type) {
		case *pglogrepl.RelationMessage:
			relations[m.RelationID] = m
		case *pglogrepl.InsertMessage:
			rel := relations[m.RelationID]
			if rel == nil || rel.RelationName != table {
				continue
			}
			got := map[string]string{}
			for i, col := range m.Tuple.Columns {
				got[rel.Columns[i].Name] = string(col.Data)
			}
			if got["id"] != "42" || got["name"] != "hello" {
				t.Fatalf("inserted row decoded as %v, want id=42 name=hello", got)
			}
			return
		}
	}
}

// TestSmokeMySQL reads one inserted row back from the binlog as a row event.
func TestSmokeMySQL(t *testing.T) {
	t.Parallel()
	d, err := ParseMySQLDSN(Need(t, MySQL))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := client.ConnectWithContext(ctx, d.Addr(), d.User, d.Password, d.DB, 10*time.Second)
	if err != nil {
		t.Fatalf("connecting to mysql at %s: %v", d.Addr(), err)
	}
	defer conn.Close()
	table := "smoke_" + suffix()
	if _, err := conn.Execute(fmt.Sprintf("CREATE TABLE %s (id INT PRIMARY KEY, name VARCHAR(50))", table)); err != nil {
		t.Fatalf("create table: %v", err)
	}
	t.Cleanup(func() { _, _ = conn.Execute("DROP TABLE IF EXISTS " + table) })

	ver, err := conn.Execute("SELECT VERSION()")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := ver.GetString(0, 0)
	flavor, posQuery := mysql.MySQLFlavor, "SELECT @@GLOBAL.gtid_executed"
	if strings.Contains(strings.ToLower(v), "mariadb") {
		flavor, posQuery = mysql.MariaDBFlavor, "SELECT @@GLOBAL.gtid_current_pos"
	}
	res, err := conn.Execute(posQuery)
	if err != nil {
		t.Fatalf("%s: %v", posQuery, err)
	}
	pos, _ := res.GetString(0, 0)
	gset, err := mysql.ParseGTIDSet(flavor, pos)
	if err != nil {
		t.Fatalf("parsing GTID set %q: %v", pos, err)
	}

	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID: uint32(10_000 + rand.IntN(1_000_000)), Flavor: flavor,
		Host: d.Host, Port: d.Port, User: d.User, Password: d.Password,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	defer syncer.Close()
	streamer, err := syncer.StartSyncGTID(gset)
	if err != nil {
		t.Fatalf("starting binlog sync at %q: %v", pos, err)
	}
	if _, err := conn.Execute(fmt.Sprintf("INSERT INTO %s VALUES (42, 'hello')", table)); err != nil {
		t.Fatalf("insert: %v", err)
	}
	for {
		ev, err := streamer.GetEvent(ctx)
		if err != nil {
			t.Fatalf("reading binlog: %v", err)
		}
		re, ok := ev.Event.(*replication.RowsEvent)
		if !ok || string(re.Table.Table) != table {
			continue
		}
		if len(re.Rows) != 1 || fmt.Sprint(re.Rows[0]) != "[42 hello]" {
			t.Fatalf("row event %v, want [[42 hello]]", re.Rows)
		}
		return
	}
}

// TestSmokeRedis writes and reads back a key.
func TestSmokeRedis(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: Need(t, Redis)})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	key := "sluice:smoke:" + suffix()
	if err := rdb.Set(ctx, key, `{"id":42}`, time.Minute).Err(); err != nil {
		t.Fatalf("SET %s: %v", key, err)
	}
	got, err := rdb.Get(ctx, key).Result()
	if err != nil || got != `{"id":42}` {
		t.Fatalf("GET %s = %q, %v; want {\"id\":42}", key, got, err)
	}
	if err := rdb.Del(ctx, key).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := rdb.Get(ctx, key).Result(); err != redis.Nil {
		t.Fatalf("GET after DEL: %v, want redis.Nil", err)
	}
}

// TestSmokeElasticsearch indexes a document and fetches it by id.
func TestSmokeElasticsearch(t *testing.T) {
	t.Parallel()
	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{Need(t, Elasticsearch)}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	index := "smoke-" + strings.ReplaceAll(suffix(), "_", "-")
	t.Cleanup(func() { _, _ = es.Indices.Delete([]string{index}) })

	res, err := es.Index(index, bytes.NewReader([]byte(`{"name":"hello"}`)),
		es.Index.WithDocumentID("42"), es.Index.WithRefresh("true"), es.Index.WithContext(ctx))
	if err != nil {
		t.Fatalf("indexing: %v", err)
	}
	res.Body.Close()
	if res.IsError() {
		t.Fatalf("indexing: %s", res.String())
	}
	res, err = es.Get(index, "42", es.Get.WithContext(ctx))
	if err != nil {
		t.Fatalf("getting: %v", err)
	}
	defer res.Body.Close()
	if res.IsError() {
		t.Fatalf("getting: %s", res.String())
	}
	var doc struct {
		Source map[string]any `json:"_source"`
	}
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.Source["name"] != "hello" {
		t.Fatalf("_source = %v, want name=hello", doc.Source)
	}
}
