package testutil

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
	buildOut  []byte
)

// BuildPedns builds cmd/pedns once per test binary and returns its path.
func BuildPedns(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pedns-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(dir, "pedns")
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		cmd := exec.Command("go", "build", "-o", buildBin, "./cmd/pedns")
		cmd.Dir = root
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("building pedns: %v\n%s", buildErr, buildOut)
	}
	return buildBin
}

// Proc is a pedns process that a test started.
type Proc struct {
	Cmd  *exec.Cmd
	Addr string // the first address it listens on, host:port

	mu  sync.Mutex
	log bytes.Buffer // everything it wrote to stderr; guarded by mu
}

// Log returns what the process has written to stderr so far.
func (p *Proc) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// Signal sends sig to the process.
func (p *Proc) Signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signalling pedns: %v", err)
	}
}

// WaitLog waits until the process's log matches re, or fails the test.
func (p *Proc) WaitLog(t testing.TB, re string, timeout time.Duration) {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if rx.MatchString(p.Log()) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("pedns log never matched %q:\n%s", re, p.Log())
}

var listeningRe = regexp.MustCompile(`msg=listening addr=(\S+)`)

// StartPedns runs the binary bin with args (e.g. "serve", "-c", file), waits
// until it logs its first listen address, and stops it by PID when the test
// ends. Configurations should listen on 127.0.0.1:0 so that the kernel picks a
// free port.
func StartPedns(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	p := &Proc{Cmd: exec.Command(bin, args...)}
	stderr, err := p.Cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("starting pedns: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
		close(exited)
	}()
	t.Cleanup(func() {
		p.Cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			p.Cmd.Process.Kill()
		}
		p.Cmd.Wait()
	})

	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := listeningRe.FindStringSubmatch(p.Log()); m != nil {
			p.Addr = m[1]
			return p
		}
		select {
		case <-exited:
			t.Fatalf("pedns exited before listening:\n%s", p.Log())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("pedns did not listen within 10s:\n%s", p.Log())
	return nil
}

// DigResult is what dig printed, split into the parts tests look at.
type DigResult struct {
	Status    string   // NOERROR, NXDOMAIN, ...
	Flags     []string // qr, aa, rd, ra, tc
	Answer    []string // answer lines as "name type data", TTL and class left out
	Authority []string
	Raw       string
}

// HasFlag reports whether dig showed the header flag f.
func (r DigResult) HasFlag(f string) bool {
	for _, x := range r.Flags {
		if x == f {
			return true
		}
	}
	return false
}

var (
	statusRe = regexp.MustCompile(`status: (\w+)`)
	flagsRe  = regexp.MustCompile(`;; flags: ([a-z ]+);`)
)

// Dig runs dig against server (host:port) with extra arguments such as the
// name, the type and options, and parses its output.
func Dig(t testing.TB, server string, args ...string) DigResult {
	t.Helper()
	dig := RequireTool(t, "dig")
	host, port, _ := strings.Cut(server, ":")
	if i := strings.LastIndex(server, ":"); i >= 0 {
		host, port = server[:i], server[i+1:]
	}
	full := append([]string{"@" + host, "-p", port, "+tries=1", "+time=3"}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, dig, full...).CombinedOutput()
	if err != nil {
		t.Fatalf("dig %s: %v\n%s", strings.Join(full, " "), err, out)
	}
	return ParseDig(string(out))
}

// ParseDig splits dig's default output.
func ParseDig(out string) DigResult {
	r := DigResult{Raw: out}
	if m := statusRe.FindStringSubmatch(out); m != nil {
		r.Status = m[1]
	}
	if m := flagsRe.FindStringSubmatch(out); m != nil {
		r.Flags = strings.Fields(m[1])
	}
	var section *[]string
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, ";; ANSWER SECTION"):
			section = &r.Answer
		case strings.HasPrefix(line, ";; AUTHORITY SECTION"):
			section = &r.Authority
		case strings.HasPrefix(line, ";") || strings.TrimSpace(line) == "":
			section = nil
		case section != nil:
			f := strings.Fields(line)
			if len(f) >= 5 {
				*section = append(*section, f[0]+" "+f[3]+" "+strings.Join(f[4:], " "))
			}
		}
	}
	return r
}
