package dnsserver

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/pedns/pedns/internal/forward"
	"github.com/pedns/pedns/internal/resolve"
	"github.com/pedns/pedns/internal/wire"
)

// headerLen is the size of the fixed DNS message header (RFC 1035 section 4.1.1).
const headerLen = 12

// minUDPSize is the payload every DNS client accepts over UDP (RFC 1035
// section 2.3.4); a query without EDNS0 gets no more.
const minUDPSize = 512

// Handle answers one query packet from client, received over UDP when udp is
// set. It returns the reply packet, or nil when the packet must be dropped: too
// short to hold a header, itself a response, or from a refused client that sent
// something unparseable. It never panics on any input.
func (s *Server) Handle(ctx context.Context, packet []byte, client netip.Addr, udp bool) []byte {
	st := s.state.Load()
	var q wire.Query
	parsed := wire.ParseQuery(packet, &q)
	if out := s.fast(st, packet, client, udp, &q, parsed, nil, time.Now().UnixNano()); out != nil {
		return out
	}
	return s.slow(ctx, st, packet, client, udp, &q, parsed)
}

// fast answers a plain query from the reply cache, writing into buf. It returns
// nil when the query is not plain (parsed is false), not allowed, or not cached.
// now (unix nanoseconds) is when the query arrived: the read loop takes it once
// per batch of datagrams, not once per query.
func (s *Server) fast(st *State, packet []byte, client netip.Addr, udp bool, q *wire.Query,
	parsed bool, buf []byte, now int64) []byte {

	if !parsed || !st.allowed(client) {
		return nil
	}
	r := st.replies.Get(q.Key(st.replySize(q, udp)), now)
	if r == nil {
		return nil
	}
	out := r.WriteTo(buf, packet, q, now)
	s.replyHits.Add(1)

	if st.logQueries || s.observer != nil {
		ev := QueryEvent{Client: client, Qtype: q.Qtype, Rcode: int(out[3] & 0x0f),
			Source: r.Source, Rule: r.Rule, Duration: time.Duration(time.Now().UnixNano() - now)}
		if st.logQueries {
			// The name is decoded only when someone reads it.
			ev.Qname, _, _ = dns.UnpackDomainName(packet, headerLen)
		}
		s.observe(st, ev)
	}
	return out
}

// QueryEvent describes one answered query, for the query log and metrics.
type QueryEvent struct {
	Client   netip.Addr
	Qname    string // empty unless the query log is on
	Qtype    uint16
	Rcode    int
	Source   string // the resolve source of the last step, or "none"
	Rule     string // the forward rule of the last step; empty for local answers
	Duration time.Duration
}

// Observer is told of every answered query and every refused client. Metrics
// implement it. Calls come from the query path: they must be quick and safe for
// concurrent use.
type Observer interface {
	Query(ev QueryEvent)
	Refused(client netip.Addr)
}

// Option configures a Server at New.
type Option func(*Server)

// WithObserver has o told of every query and refused client.
func WithObserver(o Observer) Option { return func(s *Server) { s.observer = o } }

// WithForwardObserver has o told of every upstream attempt and merged query.
func WithForwardObserver(o forward.Observer) Option {
	return func(s *Server) { s.fwdObserver = o }
}

// observe logs ev when the query log is on and hands it to the observer.
func (s *Server) observe(st *State, ev QueryEvent) {
	if st.logQueries {
		s.log.Info("query", "client", ev.Client, "qname", ev.Qname,
			"qtype", dns.TypeToString[ev.Qtype], "rcode", dns.RcodeToString[ev.Rcode],
			"source", ev.Source, "duration", ev.Duration)
	}
	if s.observer != nil {
		s.observer.Query(ev)
	}
}

// replySize is the most bytes a reply to q may take: 512 over UDP without
// EDNS0, the client's EDNS0 size bounded by ours over UDP, 64 KiB over TCP.
func (st *State) replySize(q *wire.Query, udp bool) uint16 {
	switch {
	case !udp:
		return dns.MaxMsgSize
	case q.EDNS:
		return uint16(min(max(int(q.UDPSize), minUDPSize), st.udpSize))
	}
	return minUDPSize
}

// slow answers any packet through the full parser and the pipeline, and keeps
// the reply for the fast path when it may be reused.
func (s *Server) slow(ctx context.Context, st *State, packet []byte, client netip.Addr, udp bool,
	q *wire.Query, parsed bool) []byte {

	if len(packet) < headerLen || packet[2]&0x80 != 0 {
		return nil // no header, or a response: answering could start a loop
	}

	req := new(dns.Msg)
	if parsed {
		queryFromWire(req, packet, q)
	} else if err := unpackQuery(req, packet); err != nil {
		if !st.allowed(client) {
			return nil
		}
		s.log.Debug("malformed query", "client", client, "error", err)
		return headerOnly(packet, dns.RcodeFormatError)
	}

	if !st.allowed(client) {
		// No upstream traffic and a reply never larger than the query: the
		// header and question of the query, nothing else.
		s.refused.Add(1)
		if s.observer != nil {
			s.observer.Refused(client)
		}
		resp := new(dns.Msg)
		resp.SetRcode(req, dns.RcodeRefused)
		return st.pack(resp, req, udp, s.log)
	}

	resp, ans := s.answer(ctx, st, req, client)
	out := st.pack(resp, req, udp, s.log)
	if parsed && ans != nil && st.replies.Enabled() && reusable(ans) {
		local := ans.Authoritative
		source := resolve.SourceCache
		if local {
			source = ans.Source()
		}
		var until int64
		if t := ans.RefreshAt(); !t.IsZero() {
			until = t.UnixNano()
		}
		r, ok := wire.NewReply(out, !local, time.Now().UnixNano(), until, source, ans.Rule())
		if ok {
			st.replies.Put(q.Key(st.replySize(q, udp)), r)
		}
	}
	return out
}

// reusable reports whether a pipeline answer should be kept as a packed reply:
// a definite answer, not a failure, not one served stale, and not one fresh
// from an upstream. A name asked once, the common case of a cache miss, would
// only churn the reply cache; asked again, it is answered from the answer
// cache and kept then.
func reusable(ans *resolve.Answer) bool {
	if ans.Rcode != dns.RcodeSuccess && ans.Rcode != dns.RcodeNameError {
		return false
	}
	for _, st := range ans.Steps {
		switch st.Source {
		case resolve.SourceStale, resolve.SourceNone, resolve.SourceForward:
			return false
		}
	}
	return true
}

// queryFromWire fills req from a query that wire.ParseQuery accepted, without
// parsing the packet again: the header bits the reply copies, the question in
// the client's case, and the OPT record.
func queryFromWire(req *dns.Msg, packet []byte, q *wire.Query) {
	req.Id = q.ID
	req.Opcode = dns.OpcodeQuery
	req.RecursionDesired = q.Flags&(1<<8) != 0
	req.CheckingDisabled = q.Flags&(1<<4) != 0
	req.AuthenticatedData = q.Flags&(1<<5) != 0
	req.Question = []dns.Question{{Name: q.Name(packet), Qtype: q.Qtype,
		Qclass: dns.ClassINET}}
	if q.EDNS {
		req.SetEdns0(q.UDPSize, q.DO)
	}
}

// unpackQuery parses a query strictly. miekg/dns is lenient where RFC 1035
// section 4.1 is not: it accepts a question cut off before its type and class,
// header counts larger than the records present, and bytes after the last
// record. Each of those is FORMERR here.
func unpackQuery(req *dns.Msg, packet []byte) error {
	if !wire.WellFormed(packet) {
		return errMalformed
	}
	return req.Unpack(packet)
}

var errMalformed = errors.New("header counts do not match the records in the message")

// headerOnly builds a reply with just the header of packet, for a query that
// does not parse (RFC 1035 section 4.1.1: FORMERR). The ID, opcode and RD bit
// of the query are kept so that the client can match the reply.
func headerOnly(packet []byte, rcode int) []byte {
	out := make([]byte, headerLen)
	copy(out, packet[:4])
	out[2] = 0x80 | packet[2]&0x79 // QR, keep opcode and RD
	out[3] = byte(rcode & 0x0f)    // RA, Z, AD, CD cleared
	return out
}

// answer resolves req and builds the reply message. The pipeline's answer is
// returned too when the question went through it.
func (s *Server) answer(ctx context.Context, st *State, req *dns.Msg,
	client netip.Addr) (*dns.Msg, *resolve.Answer) {

	var start time.Time
	observed := st.logQueries || s.observer != nil
	if observed {
		start = time.Now()
	}
	// What SetReply does, sharing the question (both only read it) rather
	// than copying it.
	resp := &dns.Msg{Question: req.Question}
	resp.Id, resp.Response, resp.Opcode = req.Id, true, req.Opcode
	if req.Opcode == dns.OpcodeQuery {
		resp.RecursionDesired, resp.CheckingDisabled = req.RecursionDesired, req.CheckingDisabled
	}
	resp.RecursionAvailable = true
	resp.Compress = true

	opt := req.IsEdns0()
	var ans *resolve.Answer
	switch {
	case req.Opcode != dns.OpcodeQuery:
		resp.Rcode = dns.RcodeNotImplemented
		resp.Question = nil
	case len(req.Question) != 1 || !optWellFormed(req):
		resp.Rcode = dns.RcodeFormatError
	case opt != nil && opt.Version() != 0:
		// RFC 6891 section 6.1.3: an unknown EDNS version gets BADVERS.
		resp.Rcode = dns.RcodeBadVers
	default:
		ans = st.resolveInto(ctx, req, resp, opt != nil && opt.Do())
	}

	if observed && len(req.Question) == 1 {
		ev := QueryEvent{Client: client, Qname: req.Question[0].Name,
			Qtype: req.Question[0].Qtype, Rcode: resp.Rcode, Source: resolve.SourceNone,
			Duration: time.Since(start)}
		if ans != nil {
			ev.Source, ev.Rule = ans.Source(), ans.Rule()
		}
		s.observe(st, ev)
	}
	return resp, ans
}

// optWellFormed reports whether req has at most one OPT record, owned by the
// root, as RFC 6891 section 6.1.1 requires; anything else is FORMERR.
func optWellFormed(req *dns.Msg) bool {
	n := 0
	for _, rr := range req.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			n++
			if rr.Header().Name != "." {
				return false
			}
		}
	}
	return n <= 1
}

// resolveInto fills resp with the pipeline's answer to the question of req and
// returns that answer; nil when the question is one pedns answers itself.
func (st *State) resolveInto(ctx context.Context, req, resp *dns.Msg, do bool) *resolve.Answer {
	q := req.Question[0]
	switch {
	case q.Qclass != dns.ClassINET:
		resp.Rcode = dns.RcodeRefused
		return nil
	case q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR:
		// pedns serves no zone transfers.
		resp.Rcode = dns.RcodeRefused
		return nil
	case q.Qtype == dns.TypeANY:
		// RFC 8482 section 4.2: answer ANY with one small synthesized HINFO
		// record instead of everything at the name.
		resp.Answer = []dns.RR{&dns.HINFO{Hdr: dns.RR_Header{Name: q.Name,
			Rrtype: dns.TypeHINFO, Class: dns.ClassINET, Ttl: 3600}, Cpu: "RFC8482"}}
		return nil
	}

	ans := st.resolver.Resolve(ctx, q, do)
	resp.Rcode = ans.Rcode
	resp.Authoritative = ans.Authoritative
	resp.Answer = ans.Answer
	resp.Ns = ans.Ns
	return &ans
}

// pack encodes resp for the client of req: with an OPT record when the query
// had one (advertising our UDP size and echoing DO), and cut to the client's
// UDP size with TC set when it does not fit, so that the client retries over
// TCP (RFC 1035 section 4.2.1, RFC 6891 section 7).
func (st *State) pack(resp, req *dns.Msg, udp bool, log *slog.Logger) []byte {
	size := dns.MaxMsgSize
	if opt := req.IsEdns0(); opt != nil {
		resp.SetEdns0(uint16(st.udpSize), opt.Do())
		if udp {
			size = min(max(int(opt.UDPSize()), minUDPSize), st.udpSize)
		}
	} else if udp {
		size = minUDPSize
	}

	resp.Truncate(size)

	// The common replies go through wire.Packer, which writes the same bytes
	// as miekg/dns without building a map per message.
	p := packers.Get().(*wire.Packer)
	out, ok := p.Pack(make([]byte, 0, packBufSize), resp)
	packers.Put(p)
	if ok && len(out) <= size {
		return out
	}

	// Truncate turns compression off when the reply fits without it; pack it
	// compressed anyway (RFC 1035 section 4.1.4), as other servers do: a
	// smaller reply costs less to send, and to every hop after.
	resp.Compress = true
	out, err := resp.Pack()
	if err != nil {
		log.Error("cannot encode reply", "error", err)
		fail := new(dns.Msg)
		fail.SetRcode(req, dns.RcodeServerFailure)
		out, _ = fail.Pack()
	}
	return out
}

// packers are the reply encoders of the slow path, one per goroutine at a time.
var packers = sync.Pool{New: func() any { return new(wire.Packer) }}

// packBufSize is the room first given to a reply: most fit, larger ones grow.
const packBufSize = 512
