package azuresim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// udpSize is the EDNS0 payload size the emulator advertises and the most it
// sends over UDP to a client that offers more (DNS flag day 2020).
const udpSize = 1232

// Event is one query the emulator answered, for tracing.
type Event struct {
	// Network is the network the query came from.
	Network string
	// Listen is the address the query arrived on.
	Listen string
	// Client is the client's address.
	Client string
	// Question is what was asked.
	Question dns.Question
	// Result is the answer, step by step.
	Result Result
}

// Options tune a Sim.
type Options struct {
	// Log receives lifecycle logs, and one line per query when LogQueries
	// is set. Default: discard.
	Log *slog.Logger
	// LogQueries logs each query at info level. Default false.
	LogQueries bool
	// Trace, when set, is called with every query after it is answered and
	// before the reply is sent. It must be safe for concurrent use.
	Trace func(Event)
}

// Sim serves a Model over UDP and TCP on the listen addresses of each
// network. Start it with Listen, then Serve.
type Sim struct {
	model *Model
	cfg   *Config
	opts  Options

	mu      sync.Mutex
	servers []*dns.Server       // guarded by mu
	addrs   map[string][]string // network -> bound addresses; guarded by mu
}

// New builds an emulator for a checked configuration. It does not listen yet.
func New(cfg *Config, opts Options) (*Sim, error) {
	m, err := NewModel(cfg)
	if err != nil {
		return nil, err
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Sim{model: m, cfg: cfg, opts: opts, addrs: map[string][]string{}}, nil
}

// Model returns the data the emulator answers from.
func (s *Sim) Model() *Model { return s.model }

// Listen binds UDP and TCP on every listen address of every network. On
// error nothing stays bound.
func (s *Sim) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.cfg.Networks {
		for _, addr := range n.Listen {
			if err := s.listenOne(n.Name, addr); err != nil {
				s.closeLocked()
				return fmt.Errorf("network %s: %w", n.Name, err)
			}
		}
	}
	return nil
}

func (s *Sim) listenOne(network, addr string) error {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("listening on UDP %s: %w", addr, err)
	}
	bound := pc.LocalAddr().String()
	// TCP on the port UDP got, which matters when addr asked for port 0.
	l, err := net.Listen("tcp", bound)
	if err != nil {
		pc.Close()
		return fmt.Errorf("listening on TCP %s: %w", bound, err)
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		s.serveDNS(network, bound, w, req)
	})
	s.servers = append(s.servers, &dns.Server{PacketConn: pc, Handler: h},
		&dns.Server{Listener: l, Handler: h})
	s.addrs[network] = append(s.addrs[network], bound)
	return nil
}

// Addrs returns the bound addresses of network (UDP and TCP share them).
func (s *Sim) Addrs(network string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.addrs[network]...)
}

// Serve answers queries on the bound addresses until ctx ends, then closes
// them and returns.
func (s *Sim) Serve(ctx context.Context) error {
	s.mu.Lock()
	servers := append([]*dns.Server(nil), s.servers...)
	s.mu.Unlock()
	if len(servers) == 0 {
		return errors.New("azuresim: Serve before Listen")
	}
	errc := make(chan error, len(servers))
	for _, srv := range servers {
		go func() { errc <- srv.ActivateAndServe() }()
	}
	for _, n := range s.cfg.Networks {
		for _, a := range s.Addrs(n.Name) {
			s.opts.Log.Info("listening", "addr", a, "network", n.Name,
				"transports", "udp,tcp")
		}
	}
	<-ctx.Done()
	s.Close()
	for range servers {
		<-errc
	}
	s.opts.Log.Info("stopped")
	return nil
}

// Close stops every listener.
func (s *Sim) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked()
}

func (s *Sim) closeLocked() {
	for _, srv := range s.servers {
		// Shutdown fails for a server that never started; close its
		// sockets directly then.
		if err := srv.Shutdown(); err != nil {
			if srv.PacketConn != nil {
				srv.PacketConn.Close()
			}
			if srv.Listener != nil {
				srv.Listener.Close()
			}
		}
	}
	s.servers = nil
}

// serveDNS answers one query that arrived on listen, from network.
func (s *Sim) serveDNS(network, listen string, w dns.ResponseWriter, req *dns.Msg) {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.RecursionAvailable = true
	resp.Authoritative = false

	var res Result
	switch {
	case req.Opcode != dns.OpcodeQuery:
		resp.Rcode = dns.RcodeNotImplemented
	case len(req.Question) != 1:
		resp.Rcode = dns.RcodeFormatError
	case req.Question[0].Qclass != dns.ClassINET:
		resp.Rcode = dns.RcodeRefused
	default:
		q := req.Question[0]
		res = s.model.Resolve(network, q.Name, q.Qtype)
		resp.Rcode, resp.Answer, resp.Ns = res.Rcode, res.Answer, res.Ns
	}

	size := dns.MaxMsgSize
	_, udp := w.LocalAddr().(*net.UDPAddr)
	if opt := req.IsEdns0(); opt != nil {
		resp.SetEdns0(udpSize, opt.Do())
		if udp {
			size = min(max(int(opt.UDPSize()), dns.MinMsgSize), udpSize)
		}
	} else if udp {
		size = dns.MinMsgSize
	}
	resp.Truncate(size)

	if len(req.Question) == 1 {
		s.report(network, listen, w.RemoteAddr(), req.Question[0], res)
	}
	if err := w.WriteMsg(resp); err != nil {
		s.opts.Log.Debug("writing reply failed", "network", network, "error", err)
	}
}

func (s *Sim) report(network, listen string, client net.Addr, q dns.Question, res Result) {
	if s.opts.LogQueries {
		steps := make([]string, len(res.Steps))
		for i, st := range res.Steps {
			steps[i] = st.Name + " (" + st.Source + ")"
		}
		s.opts.Log.Info("query", "network", network, "client", clientAddr(client),
			"qname", q.Name, "qtype", dns.TypeToString[q.Qtype],
			"rcode", dns.RcodeToString[res.Rcode], "path", strings.Join(steps, " -> "))
	}
	if s.opts.Trace != nil {
		s.opts.Trace(Event{Network: network, Listen: listen, Client: clientAddr(client),
			Question: q, Result: res})
	}
}

func clientAddr(a net.Addr) string {
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.String()
	}
	return a.String()
}
