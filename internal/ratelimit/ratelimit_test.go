package ratelimit

import (
	"net/netip"
	"testing"
)

func TestBucket(t *testing.T) {
	l := New(Options{Rate: 10, Slip: 2, IPv4Prefix: 24, IPv6Prefix: 56,
		Exempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	a := netip.MustParseAddr("192.0.2.1")
	neighbour := netip.MustParseAddr("192.0.2.200")
	other := netip.MustParseAddr("198.51.100.1")
	const sec = int64(1e9)

	sent := 0
	var verdicts []Verdict
	for i := 0; i < 14; i++ {
		v := l.Check(a, 100*sec)
		if v == Send {
			sent++
		} else {
			verdicts = append(verdicts, v)
		}
	}
	if sent != 10 {
		t.Errorf("sent %d in one instant, want the bucket of 10", sent)
	}
	want := []Verdict{Drop, Truncate, Drop, Truncate}
	for i := range want {
		if verdicts[i] != want[i] {
			t.Errorf("over-limit verdicts %v, want %v (slip 2)", verdicts, want)
			break
		}
	}
	if l.Check(neighbour, 100*sec) == Send {
		t.Error("a neighbour in the same /24 was not limited")
	}
	if l.Check(other, 100*sec) != Send {
		t.Error("another network was limited")
	}
	if l.Check(netip.MustParseAddr("127.0.0.1"), 100*sec) != Send {
		t.Error("an exempt client was limited")
	}
	// Half a second refills five tokens.
	sent = 0
	for i := 0; i < 10; i++ {
		if l.Check(a, 100*sec+sec/2) == Send {
			sent++
		}
	}
	if sent != 5 {
		t.Errorf("sent %d after 0.5s, want 5", sent)
	}
	if l.Limited() == 0 {
		t.Error("Limited counter did not move")
	}
}

func TestNilLimiterSendsAll(t *testing.T) {
	var l *Limiter = New(Options{})
	if l != nil || l.Check(netip.MustParseAddr("192.0.2.1"), 0) != Send {
		t.Error("a zero rate must turn limiting off")
	}
}

func TestMaxClientsBoundsMemory(t *testing.T) {
	l := New(Options{Rate: 5, IPv4Prefix: 32, MaxClients: 160})
	for i := 0; i < 5000; i++ {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		l.Check(a, 1)
	}
	n := 0
	for i := range l.shards {
		n += len(l.shards[i].buckets)
	}
	if n > 160 {
		t.Errorf("%d buckets kept, want at most 160", n)
	}
}
