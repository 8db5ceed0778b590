package udpbatch

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"
)

// Both batch implementations carry datagrams and addresses both ways: the
// recvmmsg/sendmmsg one the server uses on Linux, and the golang.org/x/net
// one it falls back to.
func TestBatchIO(t *testing.T) {
	for _, network := range []struct{ name, addr string }{
		{name: "udp4", addr: "127.0.0.1:0"},
		{name: "udp6", addr: "[::1]:0"},
	} {
		for _, impl := range []string{"native", "x/net"} {
			t.Run(network.name+"/"+impl, func(t *testing.T) {
				server, err := net.ListenPacket(network.name, network.addr)
				if err != nil {
					t.Skipf("no %s on this machine: %v", network.name, err)
				}
				defer server.Close()
				uc := server.(*net.UDPConn)
				var io Conn = newXnet(uc, 4)
				if impl == "native" {
					io = New(uc, 4)
				}
				client, err := net.ListenPacket(network.name, network.addr)
				if err != nil {
					t.Fatal(err)
				}
				defer client.Close()

				for _, m := range []string{"one", "two", "three"} {
					client.WriteTo([]byte(m), server.LocalAddr())
				}
				bufs := [][]byte{make([]byte, 64), make([]byte, 64), make([]byte, 64),
					make([]byte, 64)}
				lens, from := make([]int, 4), make([]netip.AddrPort, 4)
				got := 0
				for deadline := time.Now().Add(2 * time.Second); got < 3 &&
					time.Now().Before(deadline); {
					n, err := io.Read(bufs[got:], lens[got:], from[got:])
					if err != nil {
						t.Fatal(err)
					}
					got += n
				}
				want := client.LocalAddr().(*net.UDPAddr).AddrPort()
				for i, m := range []string{"one", "two", "three"} {
					if string(bufs[i][:lens[i]]) != m || from[i].Port() != want.Port() ||
						from[i].Addr().Unmap() != want.Addr().Unmap() {
						t.Errorf("datagram %d: %q from %v, want %q from %v",
							i, bufs[i][:lens[i]], from[i], m, want)
					}
				}

				if err := io.Write([][]byte{[]byte("back")}, from[:1]); err != nil {
					t.Fatal(err)
				}
				client.SetReadDeadline(time.Now().Add(2 * time.Second))
				buf := make([]byte, 64)
				n, _, err := client.ReadFrom(buf)
				if err != nil || !bytes.Equal(buf[:n], []byte("back")) {
					t.Errorf("reply %q, %v", buf[:n], err)
				}
			})
		}
	}
}

// A batch read and write on the native path allocate nothing.
func TestBatchIODoesNotAllocate(t *testing.T) {
	server, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	client, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	io := New(server.(*net.UDPConn), 4)
	if _, ok := io.(*xnetConn); ok {
		t.Skip("no native batch calls on this system")
	}
	bufs, lens, from := [][]byte{make([]byte, 64)}, make([]int, 1), make([]netip.AddrPort, 1)
	msg := [][]byte{[]byte("x")}
	allocs := testing.AllocsPerRun(100, func() {
		client.WriteTo([]byte("q"), server.LocalAddr())
		if _, err := io.Read(bufs, lens, from); err != nil {
			t.Fatal(err)
		}
		if err := io.Write(msg, from[:1]); err != nil {
			t.Fatal(err)
		}
		client.ReadFrom(make([]byte, 8))
	})
	// The client side (WriteTo, ReadFrom and its buffer) allocates; the server
	// side must add nothing to that.
	clientOnly := testing.AllocsPerRun(100, func() {
		client.WriteTo([]byte("q"), client.LocalAddr())
		client.ReadFrom(make([]byte, 8))
	})
	if allocs > clientOnly {
		t.Errorf("%.1f allocations per round, %.1f of them the client's: the batch calls allocate",
			allocs, clientOnly)
	}
}
