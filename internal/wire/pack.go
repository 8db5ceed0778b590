package wire

import (
	"encoding/binary"
	"strings"

	"github.com/miekg/dns"
)

// Packer encodes the replies pedns builds most: A, AAAA, CNAME, PTR and SOA
// records and an OPT record without options, with name compression (RFC 1035
// section 4.1.4). It does what miekg/dns's Pack does for these messages
// without allocating: Pack builds a map of name suffixes for every message,
// which was a good part of the cost of answering a cache miss. Anything else
// it declines, and the caller packs with miekg/dns.
//
// A Packer is reused from message to message; one goroutine at a time may use
// it.
type Packer struct {
	names [maxCompress]compressed
	n     int
}

// compressed is a name suffix written at off, for later names to point to.
type compressed struct {
	name string
	off  int
}

// maxCompress is how many name suffixes a message's compression remembers. A
// message with more is declined: miekg/dns would compress names this could
// not, and the bytes would differ.
const maxCompress = 64

// Pack appends m in wire form to dst[:0] and returns it, with ok false when m
// holds something the Packer does not encode (the caller then packs with
// miekg/dns). Names are compared for compression as they are written, case
// included, as miekg/dns does.
func (p *Packer) Pack(dst []byte, m *dns.Msg) (out []byte, ok bool) {
	p.n = 0
	if m.Rcode < 0 || m.Rcode > 0xFFF || len(m.Question) > 1 {
		return dst, false
	}
	opt := m.IsEdns0()
	if m.Rcode > 0xF && opt == nil {
		return dst, false
	}

	out = dst[:0]
	out = binary.BigEndian.AppendUint16(out, m.Id)
	out = binary.BigEndian.AppendUint16(out, headerBits(&m.MsgHdr))
	for _, n := range []int{len(m.Question), len(m.Answer), len(m.Ns), len(m.Extra)} {
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	}
	for _, q := range m.Question {
		if out, ok = p.name(out, q.Name); !ok {
			return out, false
		}
		out = binary.BigEndian.AppendUint16(out, q.Qtype)
		out = binary.BigEndian.AppendUint16(out, q.Qclass)
	}
	for _, rr := range m.Answer {
		if out, ok = p.record(out, rr, m.Rcode, false); !ok {
			return out, false
		}
	}
	for _, rr := range m.Ns {
		if out, ok = p.record(out, rr, m.Rcode, false); !ok {
			return out, false
		}
	}
	for _, rr := range m.Extra {
		if rr.Header().Rrtype == dns.TypeOPT && rr != opt {
			return out, false // a second OPT record, which the server never sends
		}
		if out, ok = p.record(out, rr, m.Rcode, true); !ok {
			return out, false
		}
	}
	return out, true
}

func headerBits(h *dns.MsgHdr) uint16 {
	bits := uint16(h.Opcode)<<11 | uint16(h.Rcode&0xF)
	for _, f := range []struct {
		set bool
		bit uint16
	}{
		{h.Response, 1 << 15}, {h.Authoritative, 1 << 10}, {h.Truncated, 1 << 9},
		{h.RecursionDesired, 1 << 8}, {h.RecursionAvailable, 1 << 7}, {h.Zero, 1 << 6},
		{h.AuthenticatedData, 1 << 5}, {h.CheckingDisabled, 1 << 4},
	} {
		if f.set {
			bits |= f.bit
		}
	}
	return bits
}

// record appends one resource record; rcode fills the extended rcode of an
// OPT record (RFC 6891 section 6.1.3), which only the additional section may
// hold.
func (p *Packer) record(out []byte, rr dns.RR, rcode int, additional bool) ([]byte, bool) {
	h := rr.Header()
	ok := true
	if h.Rrtype == dns.TypeOPT {
		if !additional {
			return out, false
		}
		if h.Name != "." {
			return out, false
		}
		out = append(out, 0) // the root, never compressed
	} else if out, ok = p.name(out, h.Name); !ok {
		return out, false
	}
	out = binary.BigEndian.AppendUint16(out, h.Rrtype)
	out = binary.BigEndian.AppendUint16(out, h.Class)
	ttl := h.Ttl
	if h.Rrtype == dns.TypeOPT {
		ttl = ttl&0x00FFFFFF | uint32(rcode>>4)<<24
	}
	out = binary.BigEndian.AppendUint32(out, ttl)
	lenAt := len(out)
	out = append(out, 0, 0) // RDLENGTH, filled in below

	switch rr := rr.(type) {
	case *dns.A:
		ip := rr.A.To4()
		if ip == nil {
			return out, false
		}
		out = append(out, ip...)
	case *dns.AAAA:
		if len(rr.AAAA) != 16 {
			return out, false
		}
		out = append(out, rr.AAAA...)
	case *dns.CNAME:
		out, ok = p.name(out, rr.Target)
	case *dns.PTR:
		out, ok = p.name(out, rr.Ptr)
	case *dns.SOA:
		if out, ok = p.name(out, rr.Ns); ok {
			out, ok = p.name(out, rr.Mbox)
		}
		for _, v := range []uint32{rr.Serial, rr.Refresh, rr.Retry, rr.Expire, rr.Minttl} {
			out = binary.BigEndian.AppendUint32(out, v)
		}
	case *dns.OPT:
		ok = len(rr.Option) == 0
	default:
		return out, false
	}
	if !ok || len(out)-lenAt-2 > 0xFFFF {
		return out, false
	}
	binary.BigEndian.PutUint16(out[lenAt:], uint16(len(out)-lenAt-2))
	return out, true
}

// name appends a fully qualified name, pointing to an earlier copy of its
// longest suffix already written. It declines names with escapes (\. or \DDD),
// names not ending in a dot, and labels or names over their limits.
func (p *Packer) name(out []byte, name string) ([]byte, bool) {
	if name == "." {
		return append(out, 0), true
	}
	if len(name) > 254 || !strings.HasSuffix(name, ".") || strings.IndexByte(name, '\\') >= 0 {
		return out, false
	}

	for start := 0; start < len(name); {
		suffix := name[start:]
		if off, found := p.find(suffix); found {
			return binary.BigEndian.AppendUint16(out, 0xC000|uint16(off)), true
		}
		if len(out) < 0x4000 {
			if p.n == maxCompress {
				return out, false
			}
			p.names[p.n] = compressed{name: suffix, off: len(out)}
			p.n++
		}
		end := strings.IndexByte(suffix, '.')
		if end <= 0 || end > 63 {
			return out, false // an empty label (..) or one over 63 bytes
		}
		out = append(out, byte(end))
		out = append(out, suffix[:end]...)
		start += end + 1
	}
	return append(out, 0), true
}

func (p *Packer) find(suffix string) (int, bool) {
	for i := 0; i < p.n; i++ {
		if p.names[i].name == suffix {
			return p.names[i].off, true
		}
	}
	return 0, false
}
