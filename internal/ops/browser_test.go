package ops

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/miekg/dns"

	"github.com/pedns/pedns/internal/testutil"
)

// ArtifactDirEnv names the folder where the browser test saves its
// screenshots; without it they go to a new temporary folder, named in the
// test's log and kept after the test for a person to look at.
const ArtifactDirEnv = "PEDNS_ARTIFACT_DIR"

// browser starts headless Chromium with a fresh profile and everything that
// talks to the network on its own turned off, and returns a context to drive
// it. Its resolver is told that no name exists, so the only pages it can load
// are the test's, on 127.0.0.1.
func browser(t *testing.T) context.Context {
	t.Helper()
	bin := testutil.RequireTool(t, "chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.WindowSize(390, 844), // a phone's screen
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	// The first call starts the browser, which lives as long as its context:
	// no timeout on that one, one for the test's steps after it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancelTimeout)
	return ctx
}

// read runs an action that gives a value, failing the test on error.
func read[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("chromium: %s: %v", what, err)
	}
	return v
}

func artifactDir(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv(ArtifactDirEnv); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	dir, err := os.MkdirTemp("", "pedns-screenshots-")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestStatusPageInBrowser loads the status page in Chromium, submits the
// resolve form for the workspace's public name and checks the chain shown:
// forwarded upstream, then chased into the local Private Link zone.
func TestStatusPageInBrowser(t *testing.T) {
	ctx := browser(t)
	up := azureLike(t)
	h := newHarness(t, testConfig(t, up.Addr, up.Addr, "", true))
	h.serve()
	ask(t, h.dnsAddr, nil, wsPrivate, dns.TypeA) // for the last queries

	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("chromium: %s: %v", what, err)
		}
	}
	do("loading the status page", chromedp.Navigate(h.url+"/"),
		chromedp.WaitVisible(chromedp.ID("name")))
	status := read(t, ctx, "status text", chromedp.Text(chromedp.CSS("main")))
	narrow := read(t, ctx, "page width", chromedp.Evaluate[bool](
		`document.documentElement.scrollWidth <= window.innerWidth`))
	page := read(t, ctx, "screenshot", chromedp.FullScreenshot(100))

	do("submitting the form",
		chromedp.SendKeys(chromedp.ID("name"), strings.TrimSuffix(wsPublic, ".")),
		chromedp.SetValue(chromedp.ID("type"), "A"),
		chromedp.Click(chromedp.ID("go")),
		chromedp.WaitVisible(chromedp.ID("chain")))
	url := read(t, ctx, "location", chromedp.Location())
	chain := read(t, ctx, "chain", chromedp.Text(chromedp.ID("chain")))
	rcode := read(t, ctx, "rcode", chromedp.Text(chromedp.ID("rcode")))
	answer := read(t, ctx, "answer", chromedp.Text(chromedp.ID("answer")))
	result := read(t, ctx, "screenshot", chromedp.FullScreenshot(100))

	dir := artifactDir(t)
	for name, shot := range map[string][]byte{"status.png": page, "resolve.png": result} {
		if err := os.WriteFile(filepath.Join(dir, name), shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots in %s", dir)

	for _, want := range []string{"privatelink.api.azureml.ms.", "api.azureml.ms.",
		up.Addr, "Last queries", wsPrivate} {
		if !strings.Contains(status, want) {
			t.Errorf("status page lacks %q:\n%s", want, status)
		}
	}
	if !narrow {
		t.Error("status page is wider than a phone's screen")
	}
	if !strings.HasPrefix(url, h.url+"/resolve?") {
		t.Errorf("form went to %s, want %s/resolve?...", url, h.url)
	}
	if rcode != "NOERROR" {
		t.Errorf("rcode shown %q, want NOERROR", rcode)
	}
	// The chain in order: the public name forwarded upstream, answered with
	// the CNAME; the CNAME's target answered by the local zone, not by the
	// upstream's public address.
	steps := []string{wsPublic, "forward", "api.azureml.ms. via " + up.Addr,
		"CNAME " + wsPrivate, wsPrivate, "zone", "A 10.1.0.5"}
	rest := chain
	for _, s := range steps {
		i := strings.Index(rest, s)
		if i < 0 {
			t.Fatalf("chain lacks %q after the steps before it:\n%s", s, chain)
		}
		rest = rest[i+len(s):]
	}
	if strings.Contains(answer, "203.0.113.9") || !strings.Contains(answer, "10.1.0.5") {
		t.Errorf("answer section shows the wrong address:\n%s", answer)
	}
}
