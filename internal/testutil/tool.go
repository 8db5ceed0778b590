// Package testutil holds helpers shared by pedns tests.
package testutil

import (
	"os"
	"os/exec"
	"testing"
)

// RequireToolsEnv names the environment variable that turns a missing
// outside program from a skipped test into a failed one. CI sets it to 1 so
// that a forgotten install step cannot hide a failure.
const RequireToolsEnv = "PEDNS_REQUIRE_TOOLS"

// RequireTool returns the path of the program name. When it is not
// installed the test is skipped, or fails if RequireToolsEnv is "1".
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	// Debian installs checkers such as unbound-checkconf in sbin, which is
	// not on every user's PATH.
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		p := dir + "/" + name
		if fi, serr := os.Stat(p); serr == nil && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	if os.Getenv(RequireToolsEnv) == "1" {
		t.Fatalf("%s not found and %s=1: install it (see .ci/apt-packages)",
			name, RequireToolsEnv)
	}
	t.Skipf("%s not found; install it to run this test", name)
	return ""
}
