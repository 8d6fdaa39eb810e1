package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
)

// boltStore is Raft's LogStore and StableStore in one bbolt file
// (DIR/raft.db). It replaces github.com/hashicorp/raft-boltdb/v2, whose
// v2.3.1 imports github.com/hashicorp/go-metrics/compat, a package that
// go-metrics v0.7.0 (required by raft v1.8.0) no longer has.
//
// Layout: bucket "logs" maps the big-endian uint64 index to an encoded log
// entry; bucket "conf" maps stable-store keys to values (uint64 values
// big-endian).
//
// Log entry encoding (version 1), big-endian:
//
//	+---------+-------+------+------+--------------+---------+------+---------+-----+
//	| ver (1) | index | term | type | appended ns  | dataLen | data | extLen  | ext |
//	| 1 byte  |  8    |  8   |  1   |     8        |   4     |  …   |   4     |  …  |
//	+---------+-------+------+------+--------------+---------+------+---------+-----+
type boltStore struct {
	db *bolt.DB
}

var (
	bucketLogs = []byte("logs")
	bucketConf = []byte("conf")
	// errKeyNotFound must read exactly "not found": hashicorp/raft compares
	// the message (api.go HasExistingState, raft.go).
	errKeyNotFound = errors.New("not found")
)

const logEncodingV1 = 1

var (
	_ raft.LogStore    = (*boltStore)(nil)
	_ raft.StableStore = (*boltStore)(nil)
)

func openBoltStore(path string) (*boltStore, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoFreelistSync: true})
	if err != nil {
		return nil, fmt.Errorf("opening raft store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketLogs); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(bucketConf)
		return err
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("initialising raft store %s: %w", path, err)
	}
	return &boltStore{db: db}, nil
}

func (s *boltStore) Close() error { return s.db.Close() }

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func (s *boltStore) FirstIndex() (uint64, error) {
	var idx uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bucketLogs).Cursor().First(); k != nil {
			idx = binary.BigEndian.Uint64(k)
		}
		return nil
	})
	return idx, err
}

func (s *boltStore) LastIndex() (uint64, error) {
	var idx uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bucketLogs).Cursor().Last(); k != nil {
			idx = binary.BigEndian.Uint64(k)
		}
		return nil
	})
	return idx, err
}

func (s *boltStore) GetLog(index uint64, l *raft.Log) error {
	return s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketLogs).Get(u64(index))
		if v == nil {
			return raft.ErrLogNotFound
		}
		return decodeLog(v, l)
	})
}

func (s *boltStore) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

func (s *boltStore) StoreLogs(logs []*raft.Log) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLogs)
		for _, l := range logs {
			if err := b.Put(u64(l.Index), encodeLog(l)); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *boltStore) DeleteRange(minIdx, maxIdx uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketLogs).Cursor()
		for k, _ := c.Seek(u64(minIdx)); k != nil && binary.BigEndian.Uint64(k) <= maxIdx; k, _ = c.Next() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *boltStore) Set(key, val []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketConf).Put(key, val) })
}

func (s *boltStore) Get(key []byte) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketConf).Get(key)
		if v == nil {
			return errKeyNotFound
		}
		out = append([]byte(nil), v...)
		return nil
	})
	return out, err
}

func (s *boltStore) SetUint64(key []byte, val uint64) error { return s.Set(key, u64(val)) }

func (s *boltStore) GetUint64(key []byte) (uint64, error) {
	v, err := s.Get(key)
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("raft store: key %q holds %d bytes, want 8", key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

func encodeLog(l *raft.Log) []byte {
	b := make([]byte, 0, 1+8+8+1+8+4+len(l.Data)+4+len(l.Extensions))
	b = append(b, logEncodingV1)
	b = binary.BigEndian.AppendUint64(b, l.Index)
	b = binary.BigEndian.AppendUint64(b, l.Term)
	b = append(b, byte(l.Type))
	var ns int64
	if !l.AppendedAt.IsZero() {
		ns = l.AppendedAt.UnixNano()
	}
	b = binary.BigEndian.AppendUint64(b, uint64(ns))
	b = binary.BigEndian.AppendUint32(b, uint32(len(l.Data)))
	b = append(b, l.Data...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(l.Extensions)))
	return append(b, l.Extensions...)
}

// decodeLog decodes encodeLog's output; the slices are copied out of bbolt's
// memory map.
func decodeLog(b []byte, l *raft.Log) error {
	const head = 1 + 8 + 8 + 1 + 8
	if len(b) < head+4 || b[0] != logEncodingV1 {
		return fmt.Errorf("raft store: log entry of %d bytes, version %d: corrupt", len(b), firstByte(b))
	}
	l.Index = binary.BigEndian.Uint64(b[1:])
	l.Term = binary.BigEndian.Uint64(b[9:])
	l.Type = raft.LogType(b[17])
	l.AppendedAt = time.Time{}
	if ns := int64(binary.BigEndian.Uint64(b[18:])); ns != 0 {
		l.AppendedAt = time.Unix(0, ns)
	}
	rest := b[head:]
	take := func() ([]byte, bool) {
		if len(rest) < 4 {
			return nil, false
		}
		n := binary.BigEndian.Uint32(rest)
		if uint64(len(rest)-4) < uint64(n) {
			return nil, false
		}
		out := append([]byte(nil), rest[4:4+n]...)
		rest = rest[4+n:]
		return out, true
	}
	var ok1, ok2 bool
	l.Data, ok1 = take()
	l.Extensions, ok2 = take()
	if !ok1 || !ok2 || len(rest) != 0 {
		return fmt.Errorf("raft store: log entry %d: corrupt lengths", l.Index)
	}
	return nil
}

func firstByte(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	return int(b[0])
}
