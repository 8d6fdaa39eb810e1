package server

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Files in the data dir owned by the server.
//
//	meta.json   {"version":1,"cluster_id":"<22 chars>","producer_id_block_end":N}
//	topics.json {"version":1,"topics":[{"name":..,"id":"<32 hex>","partitions":N,"configs":{..}}]}
//	<topic>-<partition>/   one directory per partition log
//
// Both files are replaced atomically (write temp, fsync, rename, fsync dir).
// Version 1 is the only version so far; a reader refuses versions it does
// not know rather than guess.
const (
	metaFileName   = "meta.json"
	topicsFileName = "topics.json"
	stateVersion   = 1
)

type metaFile struct {
	Version   int    `json:"version"`
	ClusterID string `json:"cluster_id"`
	// ProducerIDBlockEnd is the first producer id not yet handed out in any
	// block; after a restart allocation resumes from here, so ids are never
	// reused even if the last block was only partly used.
	ProducerIDBlockEnd int64 `json:"producer_id_block_end"`
}

type topicRecord struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
}

type topicsFile struct {
	Version int           `json:"version"`
	Topics  []topicRecord `json:"topics"`
}

func readJSON(path string, v any) (bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("%w: %s: %w", ErrStateFile, path, err)
	}
	return true, nil
}

func writeJSON(path string, v any) error { return writeJSONPerm(path, v, 0o666) }

// writeJSONPerm is writeJSON creating the file with perm (before umask);
// secrets-adjacent files (credentials.json, acls.json) use 0600.
func writeJSONPerm(path string, v any, perm os.FileMode) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return fmt.Errorf("creating %s: %w", tmp, err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("renaming %s: %w", tmp, err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

func newClusterID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func newTopicID() [16]byte {
	for {
		var id [16]byte
		_, _ = rand.Read(id[:])
		if id != ([16]byte{}) {
			return id
		}
	}
}

func parseTopicID(s string) ([16]byte, error) {
	var id [16]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		return id, fmt.Errorf("%w: topic id %q", ErrStateFile, s)
	}
	copy(id[:], b)
	return id, nil
}
