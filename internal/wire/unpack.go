package wire

import (
	"encoding/binary"
	"net"

	"github.com/miekg/dns"
)

// Unpacker parses the replies upstreams send most: a question and A, AAAA,
// CNAME, NS, PTR and SOA records, with an OPT record without options. It
// gives what miekg/dns's Unpack gives for them, in less time: names are
// decoded once, and a name that only points to one decoded before shares its
// string. Anything else (other types, names that need escapes, counts that do
// not match the records, trailing bytes) it declines, and the caller parses
// with miekg/dns, which is lenient in ways this is not.
//
// An Unpacker is reused from message to message; one goroutine at a time may
// use it. The messages it returns are the caller's.
type Unpacker struct {
	names [maxNames]decoded
	n     int
	buf   [maxNameLen]byte
}

// decoded is the name that starts at off, in presentation form.
type decoded struct {
	off  int
	name string
}

const (
	maxNames   = 64  // name starts remembered per message; later ones are not
	maxNameLen = 255 // octets of a name in wire form (RFC 1035 section 2.3.4)
)

// Unpack parses msg, with ok false when it is not of the kind the Unpacker
// parses.
func (u *Unpacker) Unpack(msg []byte) (m *dns.Msg, ok bool) {
	u.n = 0
	if len(msg) < HeaderLen {
		return nil, false
	}
	m = new(dns.Msg)
	bits := binary.BigEndian.Uint16(msg[2:])
	m.Id = binary.BigEndian.Uint16(msg)
	m.Response = bits&(1<<15) != 0
	m.Opcode = int(bits>>11) & 0xF
	m.Authoritative = bits&(1<<10) != 0
	m.Truncated = bits&(1<<9) != 0
	m.RecursionDesired = bits&(1<<8) != 0
	m.RecursionAvailable = bits&(1<<7) != 0
	m.Zero = bits&(1<<6) != 0
	m.AuthenticatedData = bits&(1<<5) != 0
	m.CheckingDisabled = bits&(1<<4) != 0
	m.Rcode = int(bits & 0xF)
	qd := int(binary.BigEndian.Uint16(msg[4:]))
	counts := [3]int{int(binary.BigEndian.Uint16(msg[6:])),
		int(binary.BigEndian.Uint16(msg[8:])), int(binary.BigEndian.Uint16(msg[10:]))}
	off := HeaderLen
	if off == len(msg) || qd > 1 {
		return nil, false // miekg/dns reads a bare header its own way
	}

	if qd == 1 {
		name, end, ok := u.name(msg, off)
		if !ok || end+4 > len(msg) {
			return nil, false
		}
		m.Question = []dns.Question{{Name: name, Qtype: binary.BigEndian.Uint16(msg[end:]),
			Qclass: binary.BigEndian.Uint16(msg[end+2:])}}
		off = end + 4
	}

	var ips []byte // the addresses of the message, in one allocation
	sections := [3]*[]dns.RR{&m.Answer, &m.Ns, &m.Extra}
	for i, n := range counts {
		if n == 0 {
			continue
		}
		if n > (len(msg)-off)/11 { // 11: the least a record takes
			return nil, false
		}
		rrs := make([]dns.RR, 0, n)
		for ; n > 0; n-- {
			var rr dns.RR
			if rr, off, ok = u.record(msg, off, &ips); !ok {
				return nil, false
			}
			if _, opt := rr.(*dns.OPT); opt && (i != 2 || m.IsEdns0() != nil) {
				return nil, false // OPT outside the additional section, or twice
			}
			rrs = append(rrs, rr)
			*sections[i] = rrs
		}
	}
	if off != len(msg) {
		return nil, false
	}
	if opt := m.IsEdns0(); opt != nil {
		m.Rcode |= opt.ExtendedRcode()
	}
	return m, true
}

// record parses the resource record at off; addresses are cut from *ips.
func (u *Unpacker) record(msg []byte, off int, ips *[]byte) (rr dns.RR, end int, ok bool) {
	var h dns.RR_Header
	if h.Name, off, ok = u.name(msg, off); !ok || off+10 > len(msg) {
		return nil, 0, false
	}
	h.Rrtype = binary.BigEndian.Uint16(msg[off:])
	h.Class = binary.BigEndian.Uint16(msg[off+2:])
	h.Ttl = binary.BigEndian.Uint32(msg[off+4:])
	h.Rdlength = binary.BigEndian.Uint16(msg[off+8:])
	off += 10
	end = off + int(h.Rdlength)
	if end > len(msg) || (h.Rdlength == 0 && h.Rrtype != dns.TypeOPT) {
		return nil, 0, false
	}
	rdata := msg[:end] // names in the data may point anywhere before its end

	var next int
	switch h.Rrtype {
	case dns.TypeA, dns.TypeAAAA:
		size := net.IPv4len
		if h.Rrtype == dns.TypeAAAA {
			size = net.IPv6len
		}
		if int(h.Rdlength) != size {
			return nil, 0, false
		}
		if cap(*ips)-len(*ips) < size {
			*ips = make([]byte, 0, 64)
		}
		at := len(*ips)
		*ips = append(*ips, msg[off:end]...)
		ip := net.IP((*ips)[at : at+size : at+size])
		if h.Rrtype == dns.TypeA {
			rr = &dns.A{Hdr: h, A: ip}
		} else {
			rr = &dns.AAAA{Hdr: h, AAAA: ip}
		}
		next = end
	case dns.TypeCNAME, dns.TypeNS, dns.TypePTR:
		var target string
		if target, next, ok = u.name(rdata, off); !ok {
			return nil, 0, false
		}
		switch h.Rrtype {
		case dns.TypeCNAME:
			rr = &dns.CNAME{Hdr: h, Target: target}
		case dns.TypeNS:
			rr = &dns.NS{Hdr: h, Ns: target}
		default:
			rr = &dns.PTR{Hdr: h, Ptr: target}
		}
	case dns.TypeSOA:
		soa := &dns.SOA{Hdr: h}
		if soa.Ns, next, ok = u.name(rdata, off); !ok {
			return nil, 0, false
		}
		if soa.Mbox, next, ok = u.name(rdata, next); !ok || next+20 != end {
			return nil, 0, false
		}
		soa.Serial = binary.BigEndian.Uint32(msg[next:])
		soa.Refresh = binary.BigEndian.Uint32(msg[next+4:])
		soa.Retry = binary.BigEndian.Uint32(msg[next+8:])
		soa.Expire = binary.BigEndian.Uint32(msg[next+12:])
		soa.Minttl = binary.BigEndian.Uint32(msg[next+16:])
		rr, next = soa, end
	case dns.TypeOPT:
		if h.Name != "." || h.Rdlength != 0 {
			return nil, 0, false
		}
		rr, next = &dns.OPT{Hdr: h}, end
	default:
		return nil, 0, false
	}
	if next != end {
		return nil, 0, false
	}
	return rr, end, true
}

// name decodes the name at off and returns it with the offset after it. A
// name that is only a pointer to one decoded before shares its string; the
// start of every label decoded is remembered for the names after. Labels
// with bytes that miekg/dns would escape, pointers that do not point back to
// a label already decoded, and names over 255 octets are declined.
func (u *Unpacker) name(msg []byte, off int) (string, int, bool) {
	start := off
	n := 0 // bytes in u.buf
	var starts [maxNameLen / 2]int
	labels := 0
	tail := ""
	end := -1 // where the name ends in msg: after its terminator or pointer
	for {
		if off >= len(msg) {
			return "", 0, false
		}
		c := int(msg[off])
		if c == 0 {
			end = off + 1
			if n == 0 {
				tail = "."
			}
			break
		}
		if c&0xC0 == 0xC0 {
			if off+1 >= len(msg) {
				return "", 0, false
			}
			ptr := int(binary.BigEndian.Uint16(msg[off:]) & 0x3FFF)
			if ptr >= start {
				return "", 0, false // only back to a name already read
			}
			found := false
			for i := 0; i < u.n; i++ {
				if u.names[i].off == ptr {
					tail, found = u.names[i].name, true
					break
				}
			}
			if !found {
				return "", 0, false
			}
			end = off + 2
			break
		}
		if c&0xC0 != 0 || off+1+c > len(msg) || n+c+1 > maxNameLen-1 {
			return "", 0, false
		}
		if !plainLabel(msg[off+1 : off+1+c]) {
			return "", 0, false // escaped in presentation form: miekg/dns's job
		}
		starts[labels] = off
		labels++
		n += copy(u.buf[n:], msg[off+1:off+1+c])
		u.buf[n] = '.'
		n++
		off += 1 + c
	}
	if n+len(tail) > maxNameLen-1 && tail != "." {
		return "", 0, false
	}

	name := tail
	if n > 0 {
		n += copy(u.buf[n:], tail) // one allocation for labels and tail
		name = string(u.buf[:n])
	}
	// Remember where each label of this name starts: its suffix from there
	// is a substring, for the names that point to it.
	at := 0
	for i := 0; i < labels && u.n < maxNames; i++ {
		u.names[u.n] = decoded{off: starts[i], name: name[at:]}
		u.n++
		at += int(msg[starts[i]]) + 1
	}
	return name, end, true
}

// plainLabel reports whether label is written as it is in presentation form:
// no byte that miekg/dns escapes (a dot, a space, one of '@;()"\, or a byte
// outside printable ASCII).
func plainLabel(label []byte) bool {
	for _, b := range label {
		if b <= ' ' || b > '~' || b == '.' || b == '\'' || b == '@' || b == ';' ||
			b == '(' || b == ')' || b == '"' || b == '\\' {
			return false
		}
	}
	return true
}
