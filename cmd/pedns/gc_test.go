package main

import (
	"runtime"
	"runtime/debug"
	"testing"
)

// The collector's pace follows the live heap: GOGC 200 for a small one, Go's
// default for a large one (large zones), and GOGC from the environment wins.
func TestTuneGC(t *testing.T) {
	percent := func() int {
		p := debug.SetGCPercent(100)
		debug.SetGCPercent(p)
		return p
	}
	defer debug.SetGCPercent(percent())

	t.Setenv("GOGC", "")
	runtime.GC()
	tuneGC()
	if p := percent(); p != 200 {
		t.Errorf("small heap: GOGC %d, want 200", p)
	}

	big := make([]byte, largeHeap+(16<<20))
	for i := range big {
		big[i] = 1 // touched, so it is really live
	}
	runtime.GC()
	tuneGC()
	if p := percent(); p != 100 {
		t.Errorf("large heap: GOGC %d, want 100", p)
	}
	runtime.KeepAlive(big)

	t.Setenv("GOGC", "50")
	debug.SetGCPercent(50)
	tuneGC()
	if p := percent(); p != 50 {
		t.Errorf("with GOGC=50 set: %d", p)
	}
}
