package doctor

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
)

// ReadResolvConf returns the nameservers of a resolv.conf file as servers of
// SourceResolvConf, in the file's order.
func ReadResolvConf(path string) ([]Server, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading resolver configuration: %w", err)
	}
	defer f.Close()
	servers, err := ParseResolvConf(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return servers, nil
}

// ParseResolvConf reads the nameserver lines of resolv.conf(5) text. Each
// names an address, to which port 53 is added. As an extension the address
// may carry a port (127.0.0.1:5353, [::1]:5353), for servers that do not
// listen on 53; the C library would not read such a line. An IPv6 zone
// (fe80::1%eth0) is kept. Other lines are ignored, as the C library does.
func ParseResolvConf(r io.Reader) ([]Server, error) {
	var out []Server
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		addr, err := ServerAddr(fields[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, Server{Addr: addr, Source: SourceResolvConf})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// ServerAddr turns IP or IP:PORT ([IPv6]:PORT) into ip:port, port 53 when
// none is given. Host names are refused: doctor checks DNS, and must not
// need it to find the server it checks.
func ServerAddr(s string) (string, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a, 53).String(), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Port() == 0 {
		return "", fmt.Errorf("server %q: want an IP address, IP:PORT or [IPv6]:PORT", s)
	}
	return ap.String(), nil
}
