//go:build linux

package udpbatch

import (
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsghdr is struct mmsghdr of recvmmsg(2) and sendmmsg(2): a message header
// and the length the kernel received or sent.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// mmsgConn reads and writes UDP datagrams in batches with recvmmsg(2) and
// sendmmsg(2) straight through the socket's raw connection. Unlike the batch
// calls of golang.org/x/net it decodes client addresses into netip.AddrPort
// values, so a batch allocates nothing. Reads and writes have buffers of
// their own: one goroutine may read while another writes.
type mmsgConn struct {
	rc syscall.RawConn

	// The functions handed to rc.Read and rc.Write, made once: a closure made
	// per call would be an allocation per batch. Their arguments and results
	// pass through the fields below them.
	recvFn, sendFn  func(fd uintptr) bool
	rn, rgot        int
	rerrno          unix.Errno
	wfrom, wn, wgot int
	werrno          unix.Errno

	rhdrs  []mmsghdr
	riovs  []unix.Iovec
	rnames []unix.RawSockaddrAny

	whdrs  []mmsghdr
	wiovs  []unix.Iovec
	wnames []unix.RawSockaddrAny
}

func newMmsgConn(c *net.UDPConn, batch int) (*mmsgConn, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	m := &mmsgConn{
		rc:     rc,
		rhdrs:  make([]mmsghdr, batch),
		riovs:  make([]unix.Iovec, batch),
		rnames: make([]unix.RawSockaddrAny, batch),
		whdrs:  make([]mmsghdr, batch),
		wiovs:  make([]unix.Iovec, batch),
		wnames: make([]unix.RawSockaddrAny, batch),
	}
	m.recvFn, m.sendFn = m.recv, m.send
	return m, nil
}

// recv is one recvmmsg call; it returns false to wait when nothing is ready.
func (m *mmsgConn) recv(fd uintptr) bool {
	r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&m.rhdrs[0])),
		uintptr(m.rn), unix.MSG_DONTWAIT, 0, 0)
	if e == unix.EAGAIN || e == unix.EWOULDBLOCK {
		return false
	}
	m.rgot, m.rerrno = int(r), e
	return true
}

// send is one sendmmsg call from message wfrom on; false to wait for room.
func (m *mmsgConn) send(fd uintptr) bool {
	r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd,
		uintptr(unsafe.Pointer(&m.whdrs[m.wfrom])), uintptr(m.wn-m.wfrom), unix.MSG_DONTWAIT,
		0, 0)
	if e == unix.EAGAIN || e == unix.EWOULDBLOCK {
		return false
	}
	m.wgot, m.werrno = int(r), e
	return true
}

// Read fills bufs[i][:lens[i]] and from[i] for up to len(bufs) datagrams,
// waiting for the first, and returns how many arrived.
func (m *mmsgConn) Read(bufs [][]byte, lens []int, from []netip.AddrPort) (int, error) {
	n := len(bufs)
	for i := 0; i < n; i++ {
		m.riovs[i].Base = &bufs[i][0]
		m.riovs[i].SetLen(len(bufs[i]))
		h := &m.rhdrs[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&m.rnames[i]))
		h.Namelen = unix.SizeofSockaddrAny
		h.Iov = &m.riovs[i]
		h.SetIovlen(1)
		h.Control, h.Flags = nil, 0
		h.SetControllen(0)
	}
	m.rn = n
	if err := m.rc.Read(m.recvFn); err != nil {
		return 0, err
	}
	if m.rerrno != 0 {
		return 0, m.rerrno
	}
	for i := 0; i < m.rgot; i++ {
		lens[i] = int(m.rhdrs[i].len)
		from[i] = sockaddrToAddrPort(&m.rnames[i])
	}
	return m.rgot, nil
}

// Write sends msgs[i] to to[i], as many per call as the kernel takes; it
// returns the first error, having skipped the message that caused it.
func (m *mmsgConn) Write(msgs [][]byte, to []netip.AddrPort) error {
	n := len(msgs)
	for i := 0; i < n; i++ {
		m.wiovs[i].Base = &msgs[i][0]
		m.wiovs[i].SetLen(len(msgs[i]))
		h := &m.whdrs[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&m.wnames[i]))
		h.Namelen = addrPortToSockaddr(to[i], &m.wnames[i])
		h.Iov = &m.wiovs[i]
		h.SetIovlen(1)
		h.Control, h.Flags = nil, 0
		h.SetControllen(0)
	}
	var first error
	m.wn = n
	for m.wfrom = 0; m.wfrom < n; {
		if err := m.rc.Write(m.sendFn); err != nil {
			return err
		}
		if m.werrno != 0 {
			if first == nil {
				first = m.werrno
			}
			m.wfrom++ // the message at wfrom failed: skip it
			continue
		}
		m.wfrom += m.wgot
	}
	return first
}

// sockaddrToAddrPort decodes an IPv4 or IPv6 socket address.
func sockaddrToAddrPort(sa *unix.RawSockaddrAny) netip.AddrPort {
	b := (*[unix.SizeofSockaddrAny]byte)(unsafe.Pointer(sa))
	port := binary.BigEndian.Uint16(b[2:4])
	switch sa.Addr.Family {
	case unix.AF_INET:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port)
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[8:24])), port)
	}
	return netip.AddrPort{}
}

// addrPortToSockaddr encodes ap into sa and returns its length.
func addrPortToSockaddr(ap netip.AddrPort, sa *unix.RawSockaddrAny) uint32 {
	b := (*[unix.SizeofSockaddrAny]byte)(unsafe.Pointer(sa))
	clear(b[:])
	binary.BigEndian.PutUint16(b[2:4], ap.Port())
	if ap.Addr().Is4() {
		sa.Addr.Family = unix.AF_INET
		a := ap.Addr().As4()
		copy(b[4:8], a[:])
		return unix.SizeofSockaddrInet4
	}
	sa.Addr.Family = unix.AF_INET6
	a := ap.Addr().As16()
	copy(b[8:24], a[:])
	return unix.SizeofSockaddrInet6
}

// New returns recvmmsg/sendmmsg straight on c's socket, or the
// golang.org/x/net batches if the raw connection cannot be had.
func New(c *net.UDPConn, batch int) Conn {
	if m, err := newMmsgConn(c, batch); err == nil {
		return m
	}
	return newXnet(c, batch)
}
