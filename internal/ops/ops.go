// Package ops is the HTTP listener for operating pedns serve: Prometheus
// metrics at /metrics, /health and /ready for load balancers and Kubernetes
// probes, and a status page at / with a form that resolves a name through the
// running server and shows every step of the chain.
//
// It listens only where the configuration's http.listen says. Everything but
// /health and /ready needs the configured token, when there is one, as a
// bearer token or as the password of HTTP basic authentication (which lets a
// browser ask for it).
package ops

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pedns/pedns/internal/dnsserver"
	"github.com/pedns/pedns/internal/metrics"
)

// Options configure a Server.
type Options struct {
	// Listen is the ip:port to serve on; port 0 picks a free port.
	Listen string
	// Metrics are served at /metrics and told of every query; required.
	Metrics *metrics.Metrics
	// Log receives lifecycle messages; required.
	Log *slog.Logger
	// Recent is how many of the last queries the status page shows when the
	// query log is on. Default 50.
	Recent int
}

// Server is the operations listener. It implements dnsserver.Observer: pass it
// to dnsserver.New, then give it the server with Attach.
type Server struct {
	opts    Options
	started time.Time
	dns     atomic.Pointer[dnsserver.Server] // nil until Attach
	recent  *ring

	http    *http.Server
	ln      net.Listener  // set by Listen
	serving atomic.Bool   // Serve was called
	done    chan struct{} // closed when Serve returns
}

var _ dnsserver.Observer = (*Server)(nil)

// New makes the listener; it does not listen until Listen.
func New(opts Options) *Server {
	if opts.Recent <= 0 {
		opts.Recent = 50
	}
	s := &Server{opts: opts, started: time.Now(), recent: newRing(opts.Recent),
		done: make(chan struct{})}
	s.http = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		// The resolve form waits for the upstreams, up to their timeout.
		WriteTimeout:   60 * time.Second,
		IdleTimeout:    60 * time.Second,
		MaxHeaderBytes: 16 << 10,
		ErrorLog:       slog.NewLogLogger(opts.Log.Handler(), slog.LevelDebug),
	}
	return s
}

// Attach gives the listener the DNS server whose state it shows, whose
// readiness /ready reports, and through which the form resolves.
func (s *Server) Attach(srv *dnsserver.Server) {
	s.dns.Store(srv)
	s.opts.Metrics.Track(srv)
}

// Query counts ev in the metrics and keeps it for the status page when it
// carries a name, which it does only when the query log is on.
func (s *Server) Query(ev dnsserver.QueryEvent) {
	s.opts.Metrics.Query(ev)
	if ev.Qname != "" {
		s.recent.add(ev)
	}
}

// Refused counts a refused client in the metrics.
func (s *Server) Refused(client netip.Addr) { s.opts.Metrics.Refused(client) }

// Listen binds the listen address and logs it as `msg="http listening"
// addr=HOST:PORT`. It warns when the address is beyond loopback without a
// token.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("http listener on %s: %w", s.opts.Listen, err)
	}
	s.ln = ln
	addr := ln.Addr().String()
	s.opts.Log.Info("http listening", "addr", addr)
	if ap, err := netip.ParseAddrPort(addr); err == nil && !ap.Addr().IsLoopback() &&
		s.token() == "" {
		s.opts.Log.Warn("http listener beyond loopback without a token: "+
			"the status page and resolve form are open to that network", "addr", addr)
	}
	return nil
}

// Addr returns the bound address; empty before Listen.
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Serve answers requests on the bound listener until Close.
func (s *Server) Serve() error {
	s.serving.Store(true)
	defer close(s.done)
	if err := s.http.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http listener on %s: %w", s.Addr(), err)
	}
	return nil
}

// Close stops the listener, gives requests in progress a few seconds to
// finish, and waits for Serve to return when it was started.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.http.Shutdown(ctx); err != nil {
		s.opts.Log.Warn("http listener did not stop cleanly", "error", err)
		s.http.Close()
	}
	if !s.serving.Load() {
		return
	}
	select {
	case <-s.done:
	case <-ctx.Done():
	}
}

// token returns the token of the configuration now in force, so that a reload
// can change it.
func (s *Server) token() string {
	if srv := s.dns.Load(); srv != nil {
		return srv.State().Config.HTTP.Token
	}
	return ""
}

// routes builds the handler: the probes open, everything else behind the
// token.
func (s *Server) routes() http.Handler {
	private := http.NewServeMux()
	private.Handle("GET /metrics", s.opts.Metrics.Handler())
	private.HandleFunc("GET /{$}", s.handleStatus)
	private.HandleFunc("GET /resolve", s.handleResolve)
	private.HandleFunc("GET /style.css", handleCSS)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", handleHealth)
	mux.HandleFunc("GET /ready", s.handleReady)
	mux.Handle("/", s.checkHost(s.authorize(private)))
	return headers(mux)
}

// checkHost refuses, when no token is set, a request whose Host header is a
// name other than localhost: a web page that rebinds its own name to
// 127.0.0.1 (DNS rebinding) could otherwise read the status page, with the
// recent queries and client addresses, through the visitor's browser. Hosts
// given as IP addresses, or localhost, are what operators and scrapers use.
func (s *Server) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.token() != "" || hostAllowed(r.Host) {
			next.ServeHTTP(w, r)
			return
		}
		http.Error(w, "misdirected request: use the listener's IP address as the host, "+
			"or set http.token", http.StatusMisdirectedRequest)
	})
}

func hostAllowed(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	return strings.EqualFold(host, "localhost")
}

// headers sets the response headers every page gets: no scripts, no framing,
// no sniffing, no referrer.
func headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy",
			"default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// authorize passes a request on when no token is configured or when it
// carries the token, as "Authorization: Bearer TOKEN" or as the password of
// basic authentication (any user name). Tokens are compared through their
// SHA-256 sums in constant time, so neither the content nor the length of the
// token leaks through timing.
func (s *Server) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		want := s.token()
		if want == "" || tokenMatches(r, want) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Add("WWW-Authenticate", `Bearer realm="pedns"`)
		w.Header().Add("WWW-Authenticate", `Basic realm="pedns", charset="UTF-8"`)
		http.Error(w, "unauthorized: this pedns needs its http.token", http.StatusUnauthorized)
	})
}

func tokenMatches(r *http.Request, want string) bool {
	var got string
	if _, pass, ok := r.BasicAuth(); ok {
		got = pass
	} else if h := r.Header.Get("Authorization"); len(h) > 7 &&
		strings.EqualFold(h[:7], "Bearer ") {
		got = strings.TrimSpace(h[7:])
	} else {
		return false
	}
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// handleHealth answers 200 while the process runs: a liveness probe.
func handleHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

// handleReady answers 200 once every DNS listener is bound and serving with
// a loaded configuration, and 503 before that and while shutting down: a
// readiness probe.
func (s *Server) handleReady(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if srv := s.dns.Load(); srv != nil && srv.Ready() {
		fmt.Fprintln(w, "ready")
		return
	}
	w.WriteHeader(http.StatusServiceUnavailable)
	fmt.Fprintln(w, "not ready")
}
