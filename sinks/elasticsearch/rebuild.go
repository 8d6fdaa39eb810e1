package elasticsearch

import (
	"context"
	"fmt"
	"slices"
	"time"
)

type rebuildState struct {
	startedAt time.Time
}

// RebuildProgress is what a running (or the last) rebuild has done.
type RebuildProgress struct {
	Running     bool
	StartedAt   time.Time
	Indexes     map[string]string // alias → the index being built
	DocsWritten int64             // documents written to the new indexes so far
}

// RebuildProgress reports the running rebuild. Safe for concurrent use
// (it waits for a running Write).
func (s *Sink) RebuildProgress() RebuildProgress {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := RebuildProgress{DocsWritten: s.rebuildDocs.Load()}
	if rb := s.rebuild; rb != nil {
		p.Running, p.StartedAt, p.Indexes = true, rb.startedAt, map[string]string{}
		for _, a := range s.aliases {
			if a.next != "" {
				p.Indexes[a.name] = a.next
			}
		}
	}
	return p
}

// BeginRebuild creates a fresh `<alias>-<timestamp>` index for every alias,
// behind no alias yet. From then on Write sends replayed records to the new
// index only and live ones (past what this sink had written before) to the
// alias (its current index) and the new index. A rebuild already running starts over (its
// indexes are deleted).
func (s *Sink) BeginRebuild(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.open {
		return ErrNotOpen
	}
	if s.rebuild != nil {
		s.abandonLocked(ctx)
	}
	names := s.aliasNamesLocked()
	for _, alias := range names {
		a := s.aliases[alias]
		for {
			name := s.newIndexName(alias)
			if slices.Contains(a.current, name) {
				time.Sleep(time.Millisecond)
				continue
			}
			created, err := s.createIndex(ctx, name, "")
			if err != nil {
				s.abandonLocked(ctx)
				return fmt.Errorf("beginning rebuild of %s: %w", alias, err)
			}
			if !created {
				time.Sleep(time.Millisecond)
				continue
			}
			a.setNext(name)
			break
		}
	}
	s.rebuild = &rebuildState{startedAt: s.now()}
	s.rebuildDocs.Store(0)
	s.m.rebuildWritten.Set(0)
	for _, alias := range names {
		s.log.Info("rebuild started", "alias", alias, "new_index", s.aliases[alias].next)
	}
	return nil
}

// abandonLocked deletes the indexes of the running rebuild (best effort).
func (s *Sink) abandonLocked(ctx context.Context) {
	for _, a := range s.aliases {
		if a.next == "" {
			continue
		}
		if err := s.deleteIndexes(ctx, []string{a.next}); err != nil {
			s.log.Warn("deleting abandoned rebuild index", "new_index", a.next, "err", err)
		}
		a.setNext("")
	}
	s.rebuild = nil
}

// FinishRebuild makes the rebuilt indexes visible: it refreshes each new
// index, then moves the alias onto it in one atomic POST /_aliases (remove
// the old indexes, add the new one), then deletes old dated indexes beyond
// KeepIndexes. Searches through the alias see the old index until the swap
// and the complete new one after it.
func (s *Sink) FinishRebuild(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.open {
		return ErrNotOpen
	}
	if s.rebuild == nil {
		return ErrNotRebuilding
	}
	for _, alias := range s.aliasNamesLocked() {
		a := s.aliases[alias]
		if a.next == "" {
			continue // swapped by an earlier, partly failed call
		}
		if err := s.refresh(ctx, a.next); err != nil {
			return fmt.Errorf("finishing rebuild of %s: refreshing %s: %w", alias, a.next, err)
		}
		var actions []aliasAction
		if a.concrete {
			// An adopted concrete index named like the alias: deleting it
			// and adding the alias is one atomic step.
			actions = append(actions, aliasAction{"remove_index": {"index": alias}})
		} else {
			behind, err := s.aliasIndexes(ctx, alias)
			if err != nil {
				return fmt.Errorf("finishing rebuild of %s: %w", alias, err)
			}
			for _, ix := range behind {
				actions = append(actions, aliasAction{"remove": {"index": ix, "alias": alias}})
			}
		}
		actions = append(actions, aliasAction{"add": {"index": a.next, "alias": alias}})
		if err := s.updateAliases(ctx, actions); err != nil {
			return fmt.Errorf("finishing rebuild of %s: swapping alias: %w", alias, err)
		}
		s.log.Info("rebuild finished: alias swapped", "alias", alias, "new_index", a.next, "old_indexes", a.current,
			"docs_written", s.rebuildDocs.Load())
		a.current, a.concrete = []string{a.next}, false
		a.setNext("")
		if err := s.pruneLocked(ctx, a); err != nil {
			// The swap is done; stale indexes only cost disk. Next time.
			s.log.Warn("deleting old indexes after rebuild", "alias", alias, "err", err)
		}
	}
	s.rebuild = nil
	return nil
}

// pruneLocked deletes dated indexes of a other than the current one,
// keeping the newest KeepIndexes.
func (s *Sink) pruneLocked(ctx context.Context, a *aliasState) error {
	all, err := s.datedIndexes(ctx, a.name)
	if err != nil {
		return err
	}
	var old []string
	for _, ix := range all {
		if !slices.Contains(a.current, ix) {
			old = append(old, ix)
		}
	}
	slices.Sort(old)
	slices.Reverse(old)
	if len(old) <= s.cfg.KeepIndexes {
		return nil
	}
	return s.deleteIndexes(ctx, old[s.cfg.KeepIndexes:])
}
