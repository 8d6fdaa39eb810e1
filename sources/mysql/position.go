package mysql

import (
	"encoding/json"
	"fmt"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
)

// positionVersion is the first byte of every Position. Version 1 is the
// only one so far; a version 2 reader must keep reading 1 (STYLE.md §9).
const positionVersion = 1

// position is a decoded Position: where the binlog stream resumes (GTID set
// when the server has GTIDs, else file+pos; both are kept when known), the
// captured tables' schemas as of that point, and, while a snapshot is
// unfinished, its per-table progress.
type position struct {
	Flavor  string                  `json:"flavor"`
	GTID    string                  `json:"gtid,omitempty"` // executed set: MySQL uuid:1-5,..., MariaDB domain-server-seq,...
	File    string                  `json:"file,omitempty"`
	Pos     uint32                  `json:"pos,omitempty"`
	Schemas map[string]*tableSchema `json:"schemas,omitempty"` // by database.table
	Snap    *snapState              `json:"snap,omitempty"`    // nil: no snapshot pending
}

// snapState is an unfinished snapshot: which tables are done, and for the
// others the last primary key read (chunks are in key order).
type snapState struct {
	Tables map[string]*chunkState `json:"tables"`
}

type chunkState struct {
	Done  bool            `json:"done,omitempty"`
	After json.RawMessage `json:"after,omitempty"` // JSON array of the last key read
}

// wirePosition is position with the schemas pre-encoded: the stream caches
// them and re-encodes only after DDL.
type wirePosition struct {
	Flavor  string          `json:"flavor"`
	GTID    string          `json:"gtid,omitempty"`
	File    string          `json:"file,omitempty"`
	Pos     uint32          `json:"pos,omitempty"`
	Schemas json.RawMessage `json:"schemas,omitempty"`
	Snap    *snapState      `json:"snap,omitempty"`
}

func (w *wirePosition) encode() []byte {
	b, err := json.Marshal(w)
	if err != nil {
		panic(fmt.Sprintf("mysql: encoding position: %v", err)) // only plain data
	}
	return append([]byte{positionVersion}, b...)
}

func encodeSchemas(m map[string]*tableSchema) json.RawMessage {
	b, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("mysql: encoding schemas: %v", err))
	}
	return b
}

// decodePosition reads a Position; nil or empty is (nil, nil).
func decodePosition(p []byte) (*position, error) {
	if len(p) == 0 {
		return nil, nil
	}
	if p[0] != positionVersion {
		return nil, fmt.Errorf("%w: version %d (this build reads %d)", ErrPosition, p[0], positionVersion)
	}
	var pos position
	if err := json.Unmarshal(p[1:], &pos); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPosition, err)
	}
	switch pos.Flavor {
	case FlavorMySQL, FlavorMariaDB:
	default:
		return nil, fmt.Errorf("%w: flavor %q", ErrPosition, pos.Flavor)
	}
	if pos.GTID == "" && pos.File == "" {
		return nil, fmt.Errorf("%w: neither GTID set nor binlog file", ErrPosition)
	}
	if pos.GTID != "" {
		if _, err := parseGTIDSet(pos.Flavor, pos.GTID); err != nil {
			return nil, err
		}
	}
	for name, t := range pos.Schemas {
		if t == nil || len(t.Cols) == 0 || len(t.Key) == 0 {
			return nil, fmt.Errorf("%w: schema of %s is empty", ErrPosition, name)
		}
		for _, k := range t.Key {
			if k < 0 || k >= len(t.Cols) {
				return nil, fmt.Errorf("%w: schema of %s: key column %d out of range", ErrPosition, name, k)
			}
		}
	}
	return &pos, nil
}

// parseGTIDSet parses a GTID set of the flavor's syntax.
func parseGTIDSet(flavor, s string) (gomysql.GTIDSet, error) {
	var (
		set gomysql.GTIDSet
		err error
	)
	if flavor == FlavorMariaDB {
		set, err = gomysql.ParseMariadbGTIDSet(s)
	} else {
		set, err = gomysql.ParseMysqlGTIDSet(s)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: GTID set %q: %v", ErrPosition, s, err)
	}
	return set, nil
}

// gtidAfter reports whether set a contains b and differs from it (a is
// strictly after b); used to order positions of one server.
func gtidAfter(flavor, a, b string) (bool, error) {
	sa, err := parseGTIDSet(flavor, a)
	if err != nil {
		return false, err
	}
	sb, err := parseGTIDSet(flavor, b)
	if err != nil {
		return false, err
	}
	return sa.Contain(sb) && !sa.Equal(sb), nil
}
