//go:build !linux

package dnsserver

import "net"

func newBatchIO(c *net.UDPConn, batch int) batchIO { return newXnetBatch(c, batch) }
