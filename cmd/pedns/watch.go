package main

import (
	"context"
	"maps"
	"os"
	"time"
)

// fileStamp is what a poll compares to notice a change: size and modification
// time, or that the file is missing.
type fileStamp struct {
	size    int64
	modTime time.Time
	missing bool
}

func stamp(file string) fileStamp {
	fi, err := os.Stat(file)
	if err != nil {
		return fileStamp{missing: true}
	}
	return fileStamp{size: fi.Size(), modTime: fi.ModTime()}
}

// watchFiles calls changed whenever one of the files that files returns changes,
// checking every interval until ctx ends. Polling, rather than inotify, also
// sees the symlink swap by which Kubernetes updates a mounted ConfigMap.
func watchFiles(ctx context.Context, interval time.Duration, files func() []string,
	changed func()) {

	w := newSettle(stamps(files()))
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if w.poll(stamps(files())) {
			changed() // the reload runs elsewhere: poll sees its new file list
		}
	}
}

func stamps(files []string) map[string]fileStamp {
	m := make(map[string]fileStamp, len(files))
	for _, f := range files {
		m[f] = stamp(f)
	}
	return m
}

// settle decides from successive polls when to reload: once the files have
// changed and then stayed as they are for one whole poll. A file being
// written when it is polled (a copy in progress, an editor's save) is not
// read half written, at the cost of one interval of delay.
type settle struct {
	seen    map[string]fileStamp
	pending bool // a change was seen and the files have not held still since
}

func newSettle(now map[string]fileStamp) *settle { return &settle{seen: now} }

// poll takes the files' stamps of this poll and reports whether to reload.
// The list of files changes only with a reload, which read them all: a new
// list whose files in common with the old are as they were is taken as it is,
// without another reload.
func (s *settle) poll(now map[string]fileStamp) bool {
	if !maps.Equal(now, s.seen) {
		if !sameNames(now, s.seen) && commonUnchanged(now, s.seen) {
			s.seen = now
			return false
		}
		s.seen, s.pending = now, true
		return false
	}
	if s.pending {
		s.pending = false
		return true
	}
	return false
}

func sameNames(a, b map[string]fileStamp) bool {
	if len(a) != len(b) {
		return false
	}
	for f := range a {
		if _, ok := b[f]; !ok {
			return false
		}
	}
	return true
}

func commonUnchanged(a, b map[string]fileStamp) bool {
	for f, st := range a {
		if old, ok := b[f]; ok && old != st {
			return false
		}
	}
	return true
}
