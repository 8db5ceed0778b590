package main

import (
	"testing"
	"time"
)

// A change is reloaded once the files have held still for a whole poll, not
// while they are still being written, and once only.
func TestSettleWaitsForFilesToHoldStill(t *testing.T) {
	at := func(size int64) map[string]fileStamp {
		return map[string]fileStamp{"pedns.yaml": {size: size, modTime: time.Unix(size, 0)}}
	}
	s := newSettle(at(100))
	for i, step := range []struct {
		stamp  map[string]fileStamp
		reload bool
	}{
		{at(100), false}, // nothing changed
		{at(0), false},   // truncated by a copy in progress
		{at(40), false},  // half written
		{at(120), false}, // whole, but just changed
		{at(120), true},  // held still for a poll: reload
		{at(120), false}, // and only once
		{map[string]fileStamp{"pedns.yaml": {missing: true}}, false}, // removed
		{map[string]fileStamp{"pedns.yaml": {missing: true}}, true},
	} {
		if got := s.poll(step.stamp); got != step.reload {
			t.Errorf("poll %d: reload %v, want %v", i, got, step.reload)
		}
	}
}

// A reload that names other files (a hosts file added) does not make the
// watcher reload again: the new list is taken as it is. A file in common that
// changed meanwhile still counts.
func TestSettleTakesANewFileList(t *testing.T) {
	one := map[string]fileStamp{"pedns.yaml": {size: 1}}
	two := map[string]fileStamp{"pedns.yaml": {size: 1}, "a.hosts": {size: 7}}
	s := newSettle(one)
	for i := 0; i < 3; i++ {
		if s.poll(two) {
			t.Errorf("poll %d: a reload's new file list was reloaded again", i)
		}
	}
	changed := map[string]fileStamp{"pedns.yaml": {size: 2}}
	if s.poll(changed) || !s.poll(changed) {
		t.Error("a changed file in common was not reloaded after it held still")
	}
}
