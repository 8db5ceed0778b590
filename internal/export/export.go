// Package export renders an azureml.Plan in the syntax of the DNS servers
// people run: a hosts file, a pedns configuration, BIND, Unbound, dnsmasq,
// CoreDNS, Windows DNS (PowerShell) and the Azure CLI, plus a table and
// JSON for people and scripts.
//
// Every renderer returns files. Most formats are one file; bind is several
// (a named.conf fragment and one zone file per Private Link zone). WriteStream
// prints them to one stream, each after a "==> NAME <==" line when there is
// more than one, and SplitStream reads such a stream back; WriteDir writes
// them into a directory instead.
package export

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pedns/pedns/internal/azureml"
)

// File is one rendered file.
type File struct {
	// Name is a plain file name, without directories.
	Name string
	// Content is the file's text.
	Content []byte
}

// Options tune the renderers that write a server configuration.
type Options struct {
	// Listen are the pedns listen addresses. Default DefaultListen.
	Listen []string
	// Allow are the client networks pedns answers. Default DefaultAllow.
	Allow []string
}

// DefaultListen is where a generated pedns configuration listens: loopback
// only, so that the file is safe to try; the header says to change it.
var DefaultListen = []string{"127.0.0.1:53"}

// DefaultAllow are the client networks of a generated pedns configuration:
// loopback and the private ranges of RFC 1918, where clients of a DNS
// server in a virtual network or on premises live.
var DefaultAllow = []string{"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}

// renderer turns a plan into files.
type renderer func(p *azureml.Plan, o Options) ([]File, error)

// format is one output format.
type format struct {
	summary string
	render  renderer
}

var formats = map[string]format{
	"table":   {"FQDN, IP, Private Link name and purpose, aligned", renderTable},
	"json":    {"the plan as JSON, for scripts", renderJSON},
	"hosts":   {"a hosts file", renderHosts},
	"pedns":   {"a pedns configuration: Private Link zones and forwarders", renderPedns},
	"bind":    {"named.conf zone blocks plus a zone file per Private Link zone", renderBind},
	"unbound": {"unbound.conf forward-zone clauses and local data", renderUnbound},
	"dnsmasq": {"dnsmasq server=, host-record= and address= lines", renderDnsmasq},
	"coredns": {"a Corefile: forward blocks, hosts and template", renderCoreDNS},
	"windows": {"PowerShell for Windows DNS Server", renderWindows},
	"azcli":   {"az network private-dns commands (bash)", renderAzCLI},
}

// Formats returns the names of all formats, sorted, each with a summary.
func Formats() [][2]string {
	out := make([][2]string, 0, len(formats))
	for name, f := range formats {
		out = append(out, [2]string{name, f.summary})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// Render renders p in the named format.
func Render(name string, p *azureml.Plan, o Options) ([]File, error) {
	f, ok := formats[name]
	if !ok {
		names := make([]string, 0, len(formats))
		for _, nf := range Formats() {
			names = append(names, nf[0])
		}
		return nil, fmt.Errorf("unknown format %q (want one of %s)",
			name, strings.Join(names, ", "))
	}
	files, err := f.render(p, o)
	if err != nil {
		return nil, fmt.Errorf("rendering %s: %w", name, err)
	}
	return files, nil
}

// streamMarker starts and ends the line that names a file in a stream of
// several, as head(1) does for several files.
const streamStart, streamEnd = "==> ", " <=="

// WriteStream writes files to w. One file is written as it is; several are
// each preceded by a line "==> NAME <==" and followed by a blank line.
func WriteStream(w io.Writer, files []File) error {
	if len(files) == 1 {
		_, err := w.Write(files[0].Content)
		return err
	}
	for _, f := range files {
		if _, err := fmt.Fprintf(w, "%s%s%s\n", streamStart, f.Name, streamEnd); err != nil {
			return err
		}
		if _, err := w.Write(f.Content); err != nil {
			return err
		}
		if _, err := io.WriteString(w, "\n"); err != nil {
			return err
		}
	}
	return nil
}

// SplitStream reads back what WriteStream wrote for several files.
func SplitStream(data []byte) ([]File, error) {
	var files []File
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if name, ok := strings.CutPrefix(text, streamStart); ok &&
			strings.HasSuffix(name, streamEnd) {
			files = append(files, File{Name: strings.TrimSuffix(name, streamEnd)})
			continue
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("stream line %d: text before the first %q line",
				line, streamStart+"NAME"+streamEnd)
		}
		f := &files[len(files)-1]
		f.Content = append(f.Content, text...)
		f.Content = append(f.Content, '\n')
	}
	for i := range files {
		// Drop the blank separator line WriteStream added.
		files[i].Content = bytes.TrimSuffix(files[i].Content, []byte("\n"))
	}
	return files, sc.Err()
}

// WriteDir writes each file into dir, which must exist.
func WriteDir(dir string, files []File) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating the output folder: %w", err)
	}
	var errs []error
	for _, f := range files {
		if f.Name != filepath.Base(f.Name) {
			errs = append(errs, fmt.Errorf("file name %q has a directory", f.Name))
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Content, 0o644); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// upstreamHostPort splits an upstream into address and port; port is 0
// when the upstream names none.
func upstreamHostPort(s string) (string, uint16) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().String(), ap.Port()
	}
	return s, 0
}

// header returns the comment lines every file starts with, each prefixed
// by mark.
func header(mark, what string, p *azureml.Plan) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s, written by pedns plan (role %s).\n", mark, what, p.Role)
	for _, n := range p.Notes {
		fmt.Fprintf(&b, "%s note: %s\n", mark, n)
	}
	return b.String()
}

// hostNames returns the names of the plan that name one host: no wildcards.
func hostNames(p *azureml.Plan) []azureml.Name {
	var out []azureml.Name
	for _, n := range p.Names {
		if !strings.HasPrefix(n.FQDN, "*.") {
			out = append(out, n)
		}
	}
	return out
}

// standalone returns the names that no Private Link zone answers (compute
// instances and unknown imported names): a server that is to answer them
// needs a record for the public name itself.
func standalone(p *azureml.Plan) []azureml.Name {
	var out []azureml.Name
	for _, n := range hostNames(p) {
		if n.PrivateLink == "" {
			out = append(out, n)
		}
	}
	return out
}
