// Package wire works on DNS messages in their packed form, for the hot path of
// pedns serve: a strict parser for the common query (one question, at most an
// OPT record) that neither allocates nor builds a dns.Msg, and a cache of
// packed replies that a query can be answered from by copying bytes and
// patching the ID, flags, question case and TTLs.
//
// Anything the parser does not recognise is left to the full path
// (github.com/miekg/dns), which handles every other case and its errors.
package wire

import (
	"encoding/binary"

	"github.com/miekg/dns"
)

// HeaderLen is the size of the DNS header (RFC 1035 section 4.1.1).
const HeaderLen = 12

// MaxName is the longest name in wire form (RFC 1035 section 3.1).
const MaxName = 255

// Query is what the fast path needs of a query. Key holds the lower-case
// question name in wire form followed by the type, which is what replies are
// cached under; it points into the Query's own buffer.
type Query struct {
	ID      uint16
	Flags   uint16 // the second header word: QR, opcode, AA, TC, RD, RA, Z, AD, CD
	Qtype   uint16
	QEnd    int  // offset just past the question in the packet
	EDNS    bool // an OPT record is present
	DO      bool
	UDPSize uint16
	keyBuf  [MaxName + 5]byte // name, type, EDNS/DO byte, reply size
	keyLen  int               // bytes of keyBuf set by ParseQuery
	nameLen int
}

// Key returns the reply-cache key of the query for replies of at most size
// bytes: the lower-case wire name, the type, whether EDNS and DO were set, and
// size. The slice is valid until q is reused.
func (q *Query) Key(size uint16) []byte {
	binary.BigEndian.PutUint16(q.keyBuf[q.keyLen:], size)
	return q.keyBuf[:q.keyLen+2]
}

// NameLen returns the length of the question name in wire form.
func (q *Query) NameLen() int { return q.nameLen }

// Name returns the question name of packet, which q was parsed from, in
// presentation form and in the client's case, as dns.UnpackDomainName gives
// it, in one allocation.
func (q *Query) Name(packet []byte) string {
	var buf [MaxName]byte
	n := 0
	for off := HeaderLen; packet[off] != 0; {
		l := int(packet[off])
		label := packet[off+1 : off+1+l]
		if !plainLabel(label) {
			name, _, _ := dns.UnpackDomainName(packet, HeaderLen)
			return name
		}
		n += copy(buf[n:], label)
		buf[n] = '.'
		n++
		off += 1 + l
	}
	if n == 0 {
		return "."
	}
	return string(buf[:n])
}

// Header flag bits of the second header word.
const (
	flagQR     = 1 << 15
	opcodeMask = 0xf << 11
	flagRD     = 1 << 8
	flagCD     = 1 << 4
)

// typeOPT, classIN and the types the fast path leaves to the full path.
const (
	typeOPT  = 41
	classIN  = 1
	typeANY  = 255
	typeAXFR = 252
	typeIXFR = 251
)

// ParseQuery fills q from packet if packet is a plain query: QR clear, opcode
// QUERY, one question of class IN without compression, no answer or authority
// records, and at most one additional record, an OPT of version 0 that ends the
// packet. It reports false for anything else, which the caller hands to the
// full path. It does not allocate.
func ParseQuery(packet []byte, q *Query) bool {
	if len(packet) < HeaderLen {
		return false
	}
	q.ID = binary.BigEndian.Uint16(packet)
	q.Flags = binary.BigEndian.Uint16(packet[2:])
	qd := binary.BigEndian.Uint16(packet[4:])
	an := binary.BigEndian.Uint16(packet[6:])
	ns := binary.BigEndian.Uint16(packet[8:])
	ar := binary.BigEndian.Uint16(packet[10:])
	if q.Flags&(flagQR|opcodeMask) != 0 || qd != 1 || an != 0 || ns != 0 || ar > 1 {
		return false
	}

	// The question name, lower-cased into the key.
	off := HeaderLen
	n := 0
	for {
		if off >= len(packet) {
			return false
		}
		l := int(packet[off])
		if l > 63 { // a compression pointer or a reserved label type
			return false
		}
		if n+1+l > MaxName || off+1+l > len(packet) {
			return false
		}
		q.keyBuf[n] = byte(l)
		for i := 0; i < l; i++ {
			c := packet[off+1+i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			q.keyBuf[n+1+i] = c
		}
		n += 1 + l
		off += 1 + l
		if l == 0 {
			break
		}
	}
	if off+4 > len(packet) {
		return false
	}
	q.nameLen = n
	q.Qtype = binary.BigEndian.Uint16(packet[off:])
	if binary.BigEndian.Uint16(packet[off+2:]) != classIN {
		return false
	}
	switch q.Qtype {
	case typeANY, typeAXFR, typeIXFR, typeOPT:
		return false
	}
	binary.BigEndian.PutUint16(q.keyBuf[n:], q.Qtype)
	q.keyLen = n + 3
	off += 4
	q.QEnd = off

	q.EDNS, q.DO, q.UDPSize = false, false, 0
	q.keyBuf[n+2] = 0
	if ar == 0 {
		return off == len(packet)
	}
	// OPT: root name, type 41, class = UDP size, TTL = extended rcode, version
	// and flags, then RDATA (options, which pedns does not act on).
	if off+11 > len(packet) || packet[off] != 0 ||
		binary.BigEndian.Uint16(packet[off+1:]) != typeOPT {
		return false
	}
	q.UDPSize = binary.BigEndian.Uint16(packet[off+3:])
	version := packet[off+6]
	q.DO = packet[off+7]&0x80 != 0
	rdlen := int(binary.BigEndian.Uint16(packet[off+9:]))
	if version != 0 || off+11+rdlen != len(packet) {
		return false
	}
	q.EDNS = true
	q.keyBuf[n+2] = 1
	if q.DO {
		q.keyBuf[n+2] = 3
	}
	return true
}
