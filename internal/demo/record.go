package demo

import (
	"context"
	"log/slog"
	"sync"

	"github.com/pedns/pedns/internal/azuresim"
)

// Event is one query a server of the topology answered, as the demo saw
// it: pedns servers report through their query log, the emulator through
// its trace hook.
type Event struct {
	// Server is the Server.Key of the server that answered.
	Server string
	// Qname and Qtype are the question.
	Qname, Qtype string
	// Rcode is the rcode it answered.
	Rcode string
	// Source is the pedns source of the answer (forward, zone, hosts, ...);
	// empty for the emulator.
	Source string
	// Sim is the emulator's account, step by step; nil for pedns servers.
	Sim *azuresim.Event
}

// recorder collects the events of all servers. The demo asks one question
// at a time, so the events between two resets belong to one question.
type recorder struct {
	mu     sync.Mutex
	events []Event // guarded by mu
}

func (r *recorder) add(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// take returns the events since the last take and forgets them.
func (r *recorder) take() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

// addSim records a query answered by the emulator.
func (r *recorder) addSim(e azuresim.Event) {
	r.add(Event{Server: "sim-" + e.Network, Qname: e.Question.Name,
		Rcode: rcodeName(e.Result.Rcode), Sim: &e})
}

// handler returns a slog handler for the pedns server key: it records the
// server's query log lines and passes every record on to next, marked with
// the server's key.
func (r *recorder) handler(key string, next slog.Handler) slog.Handler {
	return &recHandler{rec: r, key: key, next: next.WithAttrs(
		[]slog.Attr{slog.String("server", key)})}
}

// recHandler is the slog handler of one pedns server of the topology.
type recHandler struct {
	rec  *recorder
	key  string
	next slog.Handler
}

// Enabled lets every query line through, for the recorder, and other
// records as far as next wants them.
func (h *recHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.next.Enabled(ctx, l)
}

// Handle records a query line and passes the record on.
func (h *recHandler) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Message == "query" {
		e := Event{Server: h.key}
		rec.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "qname":
				e.Qname = a.Value.String()
			case "qtype":
				e.Qtype = a.Value.String()
			case "rcode":
				e.Rcode = a.Value.String()
			case "source":
				e.Source = a.Value.String()
			}
			return true
		})
		h.rec.add(e)
	}
	if !h.next.Enabled(ctx, rec.Level) {
		return nil
	}
	return h.next.Handle(ctx, rec)
}

// WithAttrs returns a handler that adds attrs to what it passes on.
func (h *recHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &recHandler{rec: h.rec, key: h.key, next: h.next.WithAttrs(attrs)}
}

// WithGroup returns a handler that groups what it passes on.
func (h *recHandler) WithGroup(name string) slog.Handler {
	return &recHandler{rec: h.rec, key: h.key, next: h.next.WithGroup(name)}
}
