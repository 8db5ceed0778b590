package udpbatch

import (
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// xnetConn is a Conn through golang.org/x/net, which uses recvmmsg and
// sendmmsg where the system has them; it allocates an address per datagram.
// It serves where mmsgConn (Linux) does not.
type xnetConn struct {
	pc interface {
		ReadBatch(ms []ipv4.Message, flags int) (int, error)
		WriteBatch(ms []ipv4.Message, flags int) (int, error)
	}
	in, out []ipv4.Message
}

func newXnet(c *net.UDPConn, batch int) *xnetConn {
	b := &xnetConn{in: make([]ipv4.Message, batch), out: make([]ipv4.Message, batch)}
	if ua, ok := c.LocalAddr().(*net.UDPAddr); ok && ua.IP.To4() != nil {
		b.pc = ipv4.NewPacketConn(c)
	} else {
		b.pc = ipv6.NewPacketConn(c)
	}
	for i := range b.in {
		b.in[i].Buffers = make([][]byte, 1)
		b.out[i].Buffers = make([][]byte, 1)
	}
	return b
}

func (b *xnetConn) Read(bufs [][]byte, lens []int, from []netip.AddrPort) (int, error) {
	for i := range bufs {
		b.in[i].Buffers[0] = bufs[i]
	}
	n, err := b.pc.ReadBatch(b.in[:len(bufs)], 0)
	if err != nil {
		return 0, err
	}
	for i := 0; i < n; i++ {
		lens[i] = b.in[i].N
		if ua, ok := b.in[i].Addr.(*net.UDPAddr); ok {
			from[i] = ua.AddrPort()
		}
	}
	return n, nil
}

func (b *xnetConn) Write(msgs [][]byte, to []netip.AddrPort) error {
	ms := b.out[:len(msgs)]
	for i := range msgs {
		ms[i].Buffers[0], ms[i].Addr = msgs[i], net.UDPAddrFromAddrPort(to[i])
	}
	var first error
	for len(ms) > 0 {
		n, err := b.pc.WriteBatch(ms, 0)
		if err != nil {
			if first == nil {
				first = err
			}
			n = max(n, 1) // skip the message that failed
		}
		ms = ms[n:]
	}
	return first
}
