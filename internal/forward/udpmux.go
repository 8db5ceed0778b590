package forward

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/pedns/pedns/internal/udpbatch"
	"github.com/pedns/pedns/internal/wire"
)

// udpMux sends the UDP queries to one upstream over a socket they share, and
// hands each reply to the query that waits for it.
//
// One goroutine per socket reads the replies in batches (recvmmsg on Linux),
// so under load one system call brings many replies. A socket per query would
// cost a read per reply, and often one more that finds nothing yet, besides
// opening and closing the socket.
//
// A socket carries at most maxSocketUses queries, then a new one takes over,
// so the source port still changes often (RFC 5452 section 9.2 asks for
// unpredictable ports; the query ID and the question are checked as well).
// A socket taken over is closed when its last query is over. Queries in
// flight on one socket at once have distinct IDs.
type udpMux struct {
	addr     string
	log      *slog.Logger
	maxReply int       // the EDNS0 size offered upstream, at least 512
	readBufs sync.Pool // of *readBufs

	mu      sync.Mutex
	cur     *muxSocket // the socket new queries use; guarded by mu
	sockets int        // sockets open; guarded by mu
	closed  bool       // Close was called; guarded by mu
}

// maxSocketUses is how many queries one upstream socket carries.
const maxSocketUses = 64

// muxBatch is how many replies one read of an upstream socket may bring.
const muxBatch = 16

// muxSocket is one socket of a udpMux. Its fields but conn, which does not
// change, are guarded by the mux's mu.
type muxSocket struct {
	mux     *udpMux
	conn    *net.UDPConn
	waiting map[uint16]*pendingUDP // queries sent and not over, by ID
	uses    int
	retired bool // no more queries: close when waiting empties
	closed  bool // conn is closed, and counted out of the mux's sockets
}

// muxReply is what the reader hands a waiting query: its reply, or the error
// that ended every query of the socket.
type muxReply struct {
	msg *dns.Msg
	err error
}

// pendingUDP is a query sent over a muxSocket, waiting for its reply.
type pendingUDP struct {
	u     *Upstream
	sock  *muxSocket
	query *outQuery
	reply chan muxReply // buffered: the reader never waits on it
}

// readBufs are the buffers of one socket's reader, kept for the next socket's
// when the socket closes: a socket lives for only maxSocketUses queries.
type readBufs struct {
	bufs   [][]byte
	lens   []int
	from   []netip.AddrPort
	parser wire.Unpacker
}

func newUDPMux(addr string, udpSize uint16, log *slog.Logger) *udpMux {
	m := &udpMux{addr: addr, log: log, maxReply: max(int(udpSize), 512)}
	m.readBufs.New = func() any {
		rb := &readBufs{bufs: make([][]byte, muxBatch), lens: make([]int, muxBatch),
			from: make([]netip.AddrPort, muxBatch)}
		for i := range rb.bufs {
			// One byte more than a reply may have, to tell one cut short.
			rb.bufs[i] = make([]byte, m.maxReply+1)
		}
		return rb
	}
	return m
}

// send sends query and registers it for its reply. The query's ID changes if
// another query in flight on the same socket has it.
func (m *udpMux) send(u *Upstream, query *outQuery) (*pendingUDP, error) {
	p := &pendingUDP{u: u, query: query, reply: make(chan muxReply, 1)}

	m.mu.Lock()
	s := m.cur
	if s == nil || s.uses >= maxSocketUses {
		if s != nil {
			m.retireLocked(s)
		}
		var err error
		if s, err = m.open(); err != nil {
			m.mu.Unlock()
			return nil, fmt.Errorf("opening a UDP socket: %w", err)
		}
		m.cur = s
	}
	s.uses++
	for s.waiting[query.id] != nil {
		query.setID(uint16(rand.Uint32()))
	}
	s.waiting[query.id] = p
	p.sock = s
	if m.closed {
		m.retireLocked(s) // one query, then the socket goes
	}
	m.mu.Unlock()

	if _, err := s.conn.Write(query.wire); err != nil {
		// An ICMP error (port unreachable) goes to whichever call on the
		// socket comes first: when it is this write, the queries already
		// out are as doomed as this one, and the reader will not hear of it.
		s.failAll(err)
		p.close()
		return nil, fmt.Errorf("sending over udp: %w", err)
	}
	return p, nil
}

// open makes a new socket connected to the upstream, so that the kernel drops
// datagrams from any other address, and starts its reader. Called with mu
// held.
func (m *udpMux) open() (*muxSocket, error) {
	ua, err := net.ResolveUDPAddr("udp", m.addr)
	if err != nil {
		return nil, err
	}
	c, err := net.DialUDP("udp", nil, ua)
	if err != nil {
		return nil, err
	}
	s := &muxSocket{mux: m, conn: c, waiting: map[uint16]*pendingUDP{}}
	m.sockets++
	go s.read(udpbatch.New(c, muxBatch))
	return s, nil
}

// retireLocked takes s out of service: it closes now if no query waits on
// it, else when the last one is over. Called with mu held.
func (m *udpMux) retireLocked(s *muxSocket) {
	s.retired = true
	if m.cur == s {
		m.cur = nil
	}
	s.closeIfDoneLocked()
}

// closeIfDoneLocked closes s once it is retired and no query waits on it.
// Called with the mux's mu held.
func (s *muxSocket) closeIfDoneLocked() {
	if s.retired && len(s.waiting) == 0 && !s.closed {
		s.conn.Close()
		s.closed = true
		s.mux.sockets--
	}
}

// Close retires the current socket. Queries may still be sent: each then
// gets a socket of its own, closed when it is over.
func (m *udpMux) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	if m.cur != nil {
		m.retireLocked(m.cur)
	}
}

// close ends the wait for p's reply: a reply that comes later is dropped.
func (p *pendingUDP) close() {
	m := p.sock.mux
	m.mu.Lock()
	defer m.mu.Unlock()
	s := p.sock
	if s.waiting[p.query.id] == p {
		delete(s.waiting, p.query.id)
	}
	s.closeIfDoneLocked()
}

// read hands the replies that arrive on s to the queries they answer, until
// s is closed. A reply with no query waiting for its ID, or that does not
// parse, or whose question is not the query's, may be a spoofing attempt or a
// late answer to a query given up: it is dropped and the query goes on
// waiting (RFC 5452 section 9.1).
func (s *muxSocket) read(bc udpbatch.Conn) {
	m := s.mux
	rb := m.readBufs.Get().(*readBufs)
	defer m.readBufs.Put(rb)
	bufs, lens, from := rb.bufs, rb.lens, rb.from

	for {
		n, err := bc.Read(bufs, lens, from)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			// On a connected socket this is an ICMP error, such as port
			// unreachable: the upstream is not listening, so no query sent
			// from here will be answered. Tell them now rather than let them
			// time out, and let the next queries have a new socket.
			s.failAll(err)
			continue
		}
		for i := 0; i < n; i++ {
			s.deliver(bufs[i][:lens[i]], &rb.parser)
		}
	}
}

// deliver hands one datagram to the query it answers, if any. The common
// replies are parsed by parser; the others by miekg/dns.
func (s *muxSocket) deliver(msg []byte, parser *wire.Unpacker) {
	m := s.mux
	id, ok := idOf(msg)
	if !ok {
		return
	}

	m.mu.Lock()
	p := s.waiting[id]
	m.mu.Unlock()
	if p == nil {
		return // not ours, or given up: no need to parse it
	}

	resp := m.parse(msg, parser)
	if resp == nil || !matches(p.query, resp) {
		m.log.Debug("upstream reply dropped: it does not match its query",
			"upstream", m.addr, "id", id)
		return
	}

	m.mu.Lock()
	mine := s.waiting[id] == p
	if mine {
		delete(s.waiting, id)
	}
	m.mu.Unlock()
	if mine {
		p.reply <- muxReply{msg: resp}
	}
}

// parse parses one datagram from the upstream, or returns nil. A datagram
// larger than the EDNS0 size offered was cut by the read: only its header and
// question are kept, with TC set, so that the query is asked again over TCP
// rather than answered with the records that fit.
func (m *udpMux) parse(msg []byte, parser *wire.Unpacker) *dns.Msg {
	if len(msg) > m.maxReply {
		return truncated(msg)
	}
	return parseAnswer(msg, parser)
}

// parseAnswer parses an upstream's answer, over UDP or TCP, or returns nil.
// The common answers go through parser (when there is one), the others
// through miekg/dns. A message with fewer records than its header counts is
// malformed (miekg/dns would take what is there); bytes after the last record
// are ignored. TTLs are read as RFC 2181 says.
func parseAnswer(msg []byte, parser *wire.Unpacker) *dns.Msg {
	var resp *dns.Msg
	ok := false
	if parser != nil {
		resp, ok = parser.Unpack(msg)
	}
	if !ok {
		resp = new(dns.Msg)
		if !wire.Whole(msg) || resp.Unpack(msg) != nil {
			return nil
		}
	}
	fixTTLs(resp)
	return resp
}

// truncated returns the header and question of a reply cut short, with TC
// set; nil when not even they are whole.
func truncated(msg []byte) *dns.Msg {
	var h dns.Msg
	if h.Unpack(msg[:wire.HeaderLen]) != nil ||
		binary.BigEndian.Uint16(msg[4:]) != 1 {
		return nil
	}
	name, off, err := dns.UnpackDomainName(msg, wire.HeaderLen)
	if err != nil || off+4 > len(msg) {
		return nil
	}
	h.Truncated = true
	h.Question = []dns.Question{{Name: name, Qtype: binary.BigEndian.Uint16(msg[off:]),
		Qclass: binary.BigEndian.Uint16(msg[off+2:])}}
	return &h
}

// failAll ends the wait of every query on s with err, and retires s.
func (s *muxSocket) failAll(err error) {
	m := s.mux
	m.mu.Lock()
	failed := make([]*pendingUDP, 0, len(s.waiting))
	for id, p := range s.waiting {
		failed = append(failed, p)
		delete(s.waiting, id)
	}
	m.retireLocked(s)
	m.mu.Unlock()

	for _, p := range failed {
		p.reply <- muxReply{err: err}
	}
}

// timers are reused by the waits for replies: a timer per query would be an
// allocation per query.
var timers = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}}

// wait waits for the reply until deadline (ErrTimeout). After ErrTimeout the
// query is still out: wait or finish may be called again.
func (p *pendingUDP) wait(deadline time.Time) (*dns.Msg, error) {
	t := timers.Get().(*time.Timer)
	t.Reset(time.Until(deadline))
	defer func() {
		t.Stop()
		timers.Put(t)
	}()

	select {
	case r := <-p.reply:
		return p.result(r)
	case <-t.C:
		return nil, ErrTimeout
	}
}

func (p *pendingUDP) result(r muxReply) (*dns.Msg, error) {
	if r.err != nil {
		return nil, fmt.Errorf("reading over udp: %w", r.err)
	}
	return r.msg, nil
}
