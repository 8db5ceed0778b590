package export

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pedns/pedns/internal/testutil"
)

// The tests in this file feed each rendered format to the program that
// consumes it, in its checking mode only: no server is started and nothing
// touches the network. Each run works on files in a fresh temporary
// directory. A missing program skips the test, or fails it when
// PEDNS_REQUIRE_TOOLS=1 (see internal/testutil); the Debian packages are
// listed in .ci/apt-packages.

// runTool runs a checker with a time limit and fails the test, showing the
// input, when it reports a problem.
func runTool(t *testing.T, dir string, input []byte, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s\ninput:\n%s", name, strings.Join(args, " "), err, out, input)
	}
}

// writeFiles writes files into a new temporary directory and returns it.
func writeFiles(t *testing.T, files []File) string {
	t.Helper()
	dir := t.TempDir()
	if err := WriteDir(dir, files); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestBindAcceptedByNamedCheck(t *testing.T) {
	checkconf := testutil.RequireTool(t, "named-checkconf")
	checkzone := testutil.RequireTool(t, "named-checkzone")
	for _, c := range planCases {
		t.Run(c.name, func(t *testing.T) {
			files := render(t, "bind", c.plan(t))
			dir := writeFiles(t, files)
			// A whole named.conf whose directory is the temporary one, so
			// that the fragment's relative zone file names resolve there.
			main := fmt.Sprintf("options {\n\tdirectory %q;\n\tpid-file none;\n};\n"+
				"include %q;\n", dir, filepath.Join(dir, BindConfName))
			mainPath := filepath.Join(dir, "named.conf")
			if err := os.WriteFile(mainPath, []byte(main), 0o644); err != nil {
				t.Fatal(err)
			}
			runTool(t, dir, files[0].Content, checkconf, "-z", mainPath)
			for _, f := range files[1:] {
				zoneName := strings.TrimPrefix(f.Name, "db.")
				runTool(t, dir, f.Content, checkzone, "-q", zoneName, f.Name)
			}
		})
	}
}

func TestUnboundAcceptedByCheckconf(t *testing.T) {
	checkconf := testutil.RequireTool(t, "unbound-checkconf")
	for _, c := range planCases {
		t.Run(c.name, func(t *testing.T) {
			files := render(t, "unbound", c.plan(t))
			dir := writeFiles(t, files)
			// A whole unbound.conf that keeps the check inside dir: no
			// chroot, no user switch, no pid file, no trust anchor files.
			main := fmt.Sprintf("server:\n\tchroot: \"\"\n\tusername: \"\"\n"+
				"\tdirectory: %q\n\tpidfile: \"\"\n\tuse-syslog: no\n"+
				"\tinterface: 127.0.0.1\ninclude: %q\n",
				dir, filepath.Join(dir, files[0].Name))
			mainPath := filepath.Join(dir, "unbound.conf")
			if err := os.WriteFile(mainPath, []byte(main), 0o644); err != nil {
				t.Fatal(err)
			}
			runTool(t, dir, files[0].Content, checkconf, mainPath)
		})
	}
}

func TestDnsmasqAcceptedByTest(t *testing.T) {
	dnsmasq := testutil.RequireTool(t, "dnsmasq")
	for _, c := range planCases {
		t.Run(c.name, func(t *testing.T) {
			files := render(t, "dnsmasq", c.plan(t))
			dir := writeFiles(t, files)
			// --test only parses the configuration and exits; --conf-file
			// replaces /etc/dnsmasq.conf, so no system file is read.
			runTool(t, dir, files[0].Content, dnsmasq, "--test",
				"--conf-file="+filepath.Join(dir, files[0].Name))
		})
	}
}

func TestAzCLIScriptParsesInBash(t *testing.T) {
	bash := testutil.RequireTool(t, "bash")
	for _, c := range planCases {
		t.Run(c.name, func(t *testing.T) {
			files := render(t, "azcli", c.plan(t))
			dir := writeFiles(t, files)
			// -n reads the script without running a command.
			runTool(t, dir, files[0].Content, bash, "-n", files[0].Name)
		})
	}
}
