// Package udpbatch reads and writes several UDP datagrams per system call
// (recvmmsg and sendmmsg on Linux). Under load one call then carries many
// queries or replies: the server's listeners read client queries this way, and
// the forwarder reads upstream replies this way.
package udpbatch

import "net/netip"

// Conn reads and writes UDP datagrams in batches. One goroutine at a time may
// read, and one at a time may write: the calls reuse buffers of their own.
type Conn interface {
	// Read fills bufs[i][:lens[i]] and from[i] for up to len(bufs) datagrams,
	// waiting for the first, and returns how many arrived.
	Read(bufs [][]byte, lens []int, from []netip.AddrPort) (int, error)
	// Write sends msgs[i] to to[i]; it returns the first error, having gone
	// on with the other messages.
	Write(msgs [][]byte, to []netip.AddrPort) error
}
