package azureml

import (
	"bytes"
	"testing"
)

// The importers read files that users paste from the Azure CLI, PowerShell and
// the portal. No input may panic them; whatever they accept must build a
// workspace or be refused with an error.

func FuzzParseNIC(f *testing.F) {
	f.Add([]byte(`[{"IPAddress":"10.1.0.5","FQDNs":["x.workspace.eastus.api.azureml.ms"]}]`))
	f.Add([]byte(`[{"IPAddress":"10.1.0.7","FQDNs":["*.eastus.inference.ml.azure.com"]}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if fqdns, err := ParseNIC(data); err == nil {
			WorkspaceFromFQDNs(fqdns)
		}
	})
}

func FuzzParsePE(f *testing.F) {
	f.Add([]byte(`[{"Fqdn":"x.workspace.eastus.api.azureml.ms","IpAddresses":["10.1.0.5"]}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if fqdns, err := ParsePE(data); err == nil {
			WorkspaceFromFQDNs(fqdns)
		}
	})
}

func FuzzParseList(f *testing.F) {
	f.Add([]byte("x.workspace.eastus.api.azureml.ms 10.1.0.5\n"))
	f.Add([]byte("x.workspace.eastus.api.azureml.ms\n10.1.0.5\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if fqdns, err := ParseList(bytes.NewReader(data)); err == nil {
			WorkspaceFromFQDNs(fqdns)
		}
	})
}
