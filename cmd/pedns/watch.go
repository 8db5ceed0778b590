package main

import (
	"context"
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

	seen := map[string]fileStamp{}
	for _, f := range files() {
		seen[f] = stamp(f)
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		dirty := false
		for _, f := range files() {
			if st, ok := seen[f]; !ok || st != stamp(f) {
				dirty = true
			}
		}
		if !dirty {
			continue
		}
		changed()
		seen = map[string]fileStamp{}
		for _, f := range files() {
			seen[f] = stamp(f)
		}
	}
}
