//go:build !linux

package udpbatch

import "net"

// New returns the golang.org/x/net batches: the native calls are written for Linux.
func New(c *net.UDPConn, batch int) Conn { return newXnet(c, batch) }
