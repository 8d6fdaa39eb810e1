package server

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// credentialsFileName holds the SCRAM credentials in the data dir:
//
//	{"version":1,"users":{"alice":{"SCRAM-SHA-256":{"salt":..,"iterations":4096,"stored_key":..,"server_key":..}}}}
//
// Only salts and the RFC 5802 StoredKey/ServerKey are kept; a password
// cannot be recovered from the file, yet it can verify SCRAM proofs and
// (by re-deriving StoredKey) PLAIN passwords. It is written atomically,
// mode 0600. The broker re-reads it when its mtime or size changes, so
// `sluice user create --data-dir` works on a running broker too (a write
// by the broker and one by the CLI at the same instant can lose one).
const credentialsFileName = "credentials.json"

type credentialsFile struct {
	Version int                                   `json:"version"`
	Users   map[string]map[string]scramCredential `json:"users"`
}

// credStore is the SCRAM credential table, loaded lazily from the data dir.
type credStore struct {
	path string

	mu    sync.Mutex // guards the fields below
	users map[string]map[string]scramCredential
	mtime time.Time
	size  int64
}

func newCredStore(dataDir string) *credStore {
	return &credStore{path: filepath.Join(dataDir, credentialsFileName)}
}

// refreshLocked re-reads the file if it changed since the last read.
func (s *credStore) refreshLocked() error {
	fi, err := os.Stat(s.path)
	if err != nil {
		if os.IsNotExist(err) {
			s.users, s.mtime, s.size = map[string]map[string]scramCredential{}, time.Time{}, 0
			return nil
		}
		return fmt.Errorf("reading %s: %w", s.path, err)
	}
	if s.users != nil && fi.ModTime().Equal(s.mtime) && fi.Size() == s.size {
		return nil
	}
	var f credentialsFile
	if _, err := readJSON(s.path, &f); err != nil {
		return err
	}
	if f.Version != stateVersion {
		return fmt.Errorf("%w: %s version %d", ErrStateFile, credentialsFileName, f.Version)
	}
	if f.Users == nil {
		f.Users = map[string]map[string]scramCredential{}
	}
	s.users, s.mtime, s.size = f.Users, fi.ModTime(), fi.Size()
	return nil
}

func (s *credStore) saveLocked() error {
	if err := writeJSONPerm(s.path, credentialsFile{Version: stateVersion, Users: s.users}, 0o600); err != nil {
		return err
	}
	if fi, err := os.Stat(s.path); err == nil {
		s.mtime, s.size = fi.ModTime(), fi.Size()
	}
	return nil
}

// lookup returns user's credential for mechanism.
func (s *credStore) lookup(user, mechanism string) (scramCredential, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refreshLocked(); err != nil {
		return scramCredential{}, false, err
	}
	c, ok := s.users[user][mechanism]
	return c, ok, nil
}

// userMechs is one user's mechanisms with their iteration counts.
type userMechs struct {
	name  string
	mechs map[string]int
}

// list returns the users (all when names is empty), sorted by name.
func (s *credStore) list() ([]userMechs, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refreshLocked(); err != nil {
		return nil, err
	}
	out := make([]userMechs, 0, len(s.users))
	for name, ms := range s.users {
		u := userMechs{name: name, mechs: map[string]int{}}
		for m, c := range ms {
			u.mechs[m] = c.Iterations
		}
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// credChange is one upsert (cred set) or delete (cred nil) of a user's
// mechanism.
type credChange struct {
	user, mechanism string
	cred            *scramCredential
}

// apply applies changes in order and persists the table once.
func (s *credStore) apply(changes []credChange) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refreshLocked(); err != nil {
		return err
	}
	for _, c := range changes {
		if c.cred == nil {
			delete(s.users[c.user], c.mechanism)
			if len(s.users[c.user]) == 0 {
				delete(s.users, c.user)
			}
			continue
		}
		if s.users[c.user] == nil {
			s.users[c.user] = map[string]scramCredential{}
		}
		s.users[c.user][c.mechanism] = *c.cred
	}
	return s.saveLocked()
}

// SetUserPassword stores a SCRAM credential for user in dataDir's
// credential file, deriving it from password with a random salt: the
// offline way to create the first user of a SASL-only broker (a running
// broker picks the change up). mechanism is SCRAM-SHA-256 or
// SCRAM-SHA-512; iterations 0 means 4096.
func SetUserPassword(dataDir, user, mechanism, password string, iterations int) error {
	m, ok := scramMechByName(mechanism)
	if !ok {
		return fmt.Errorf("%w: mechanism %q: want %s or %s", ErrBadConfig, mechanism, MechScramSHA256, MechScramSHA512)
	}
	if iterations == 0 {
		iterations = scramMinIterations
	}
	if iterations < scramMinIterations || iterations > scramMaxIterations {
		return fmt.Errorf("%w: iterations %d: want %d..%d", ErrBadConfig, iterations, scramMinIterations, scramMaxIterations)
	}
	if user == "" || password == "" {
		return fmt.Errorf("%w: user and password are required", ErrBadConfig)
	}
	cred, err := newScramCredential(m, password, iterations)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return fmt.Errorf("creating data dir %s: %w", dataDir, err)
	}
	return newCredStore(dataDir).apply([]credChange{{user: user, mechanism: m.name, cred: &cred}})
}

// DeleteUser removes user's credentials (every mechanism) from dataDir.
func DeleteUser(dataDir, user string) error {
	var ch []credChange
	for _, m := range scramMechs {
		ch = append(ch, credChange{user: user, mechanism: m.name})
	}
	return newCredStore(dataDir).apply(ch)
}
