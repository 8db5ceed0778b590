package ops

import (
	"sync"
	"time"

	"github.com/pedns/pedns/internal/dnsserver"
)

// seen is one query kept for the status page.
type seen struct {
	At time.Time
	dnsserver.QueryEvent
}

// ring keeps the last queries, overwriting the oldest. It is fed only while
// the query log is on, when every query already costs a log line, so a mutex
// is cheap enough here.
type ring struct {
	mu   sync.Mutex
	buf  []seen // guarded by mu
	next int    // where the next query goes; guarded by mu
	full bool   // buf has wrapped; guarded by mu
}

func newRing(n int) *ring { return &ring{buf: make([]seen, n)} }

func (r *ring) add(ev dnsserver.QueryEvent) {
	now := time.Now()
	r.mu.Lock()
	r.buf[r.next] = seen{At: now, QueryEvent: ev}
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
	r.mu.Unlock()
}

// last returns the kept queries, newest first.
func (r *ring) last() []seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.next
	if r.full {
		n = len(r.buf)
	}
	out := make([]seen, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, r.buf[(r.next-i+len(r.buf))%len(r.buf)])
	}
	return out
}
