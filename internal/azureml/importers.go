package azureml

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
)

// ParseNIC reads the JSON printed by
//
//	az network nic show --ids <nic> --query 'ipConfigurations[*].{
//	  IPAddress: privateIPAddress,
//	  FQDNs: privateLinkConnectionProperties.fqdns}'
//
// a list of objects with keys IPAddress and FQDNs. A FQDN may be a wildcard.
// Errors name the entry by its index.
func ParseNIC(data []byte) ([]FQDNAddress, error) {
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("nic json: want a list of {IPAddress, FQDNs}: %w", err)
	}
	var out []FQDNAddress
	for i, obj := range raw {
		var ip string
		var fqdns []string
		if err := field(obj, "IPAddress", &ip); err != nil {
			return nil, fmt.Errorf("nic json: entry %d: %w", i, err)
		}
		if err := field(obj, "FQDNs", &fqdns); err != nil {
			return nil, fmt.Errorf("nic json: entry %d (%s): %w", i, ip, err)
		}
		for _, f := range fqdns {
			fa, err := newFQDNAddress(f, ip)
			if err != nil {
				return nil, fmt.Errorf("nic json: entry %d: %w", i, err)
			}
			out = append(out, fa)
		}
	}
	return out, nil
}

// ParsePE reads the CustomDnsConfigs of a private endpoint as JSON, e.g.
// from "(Get-AzPrivateEndpoint ...).CustomDnsConfigs | ConvertTo-Json": a
// list (or, for one entry, an object) with keys Fqdn and IpAddresses. Errors
// name the entry by its index.
func ParsePE(data []byte) ([]FQDNAddress, error) {
	var raw []map[string]json.RawMessage
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		trimmed = append(append([]byte{'['}, trimmed...), ']')
	}
	if err := json.Unmarshal(trimmed, &raw); err != nil {
		return nil, fmt.Errorf("private endpoint json: want a list of "+
			"{Fqdn, IpAddresses}: %w", err)
	}
	var out []FQDNAddress
	for i, obj := range raw {
		var fqdn string
		var ips []string
		if err := field(obj, "Fqdn", &fqdn); err != nil {
			return nil, fmt.Errorf("private endpoint json: entry %d: %w", i, err)
		}
		if err := field(obj, "IpAddresses", &ips); err != nil {
			return nil, fmt.Errorf("private endpoint json: entry %d (%s): %w", i, fqdn, err)
		}
		for _, ip := range ips {
			fa, err := newFQDNAddress(fqdn, ip)
			if err != nil {
				return nil, fmt.Errorf("private endpoint json: entry %d: %w", i, err)
			}
			out = append(out, fa)
		}
	}
	return out, nil
}

// field decodes the value of key (matched without regard to case, as
// PowerShell and the Azure CLI are not strict about it) into v. A missing
// key, a null, or an empty string or list is an error.
func field(obj map[string]json.RawMessage, key string, v any) error {
	var msg json.RawMessage
	for k, m := range obj {
		if strings.EqualFold(k, key) {
			msg = m
		}
	}
	if msg == nil || string(msg) == "null" {
		return fmt.Errorf("missing key %s", key)
	}
	if err := json.Unmarshal(msg, v); err != nil {
		return fmt.Errorf("key %s: %w", key, err)
	}
	switch x := v.(type) {
	case *string:
		if strings.TrimSpace(*x) == "" {
			return fmt.Errorf("key %s is empty", key)
		}
	case *[]string:
		if len(*x) == 0 {
			return fmt.Errorf("key %s is empty", key)
		}
	}
	return nil
}

func newFQDNAddress(fqdn, ip string) (FQDNAddress, error) {
	fa := FQDNAddress{
		FQDN: strings.TrimSuffix(strings.ToLower(strings.TrimSpace(fqdn)), "."),
		IP:   strings.TrimSpace(ip),
	}
	if err := checkFQDNAddress(fa); err != nil {
		return FQDNAddress{}, err
	}
	return fa, nil
}

// ParseList reads the FQDN and IP address list that the Azure portal shows
// for a private endpoint, as copied from the page: either one pair per line
// (in either order, separated by spaces, tabs or a comma) or alternating
// lines, a FQDN followed by its address. Blank lines, lines starting with
// '#', and header lines holding neither a name with a dot nor an address
// are skipped. Errors name the line.
func ParseList(r io.Reader) ([]FQDNAddress, error) {
	var out []FQDNAddress
	pending, pendingLine := "", 0
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		names, ips, err := splitListLine(text)
		if err != nil {
			return nil, fmt.Errorf("list line %d: %w", line, err)
		}
		switch {
		case len(names) == 0 && len(ips) == 0:
			continue // a header such as "FQDN  IP addresses"
		case len(names) > 1:
			return nil, fmt.Errorf("list line %d: more than one name in %q", line, text)
		case len(names) == 1 && pending != "":
			return nil, fmt.Errorf("list line %d: %s has no address", pendingLine, pending)
		case len(names) == 1 && len(ips) == 0:
			pending, pendingLine = names[0], line
			continue
		case len(names) == 0 && pending == "":
			return nil, fmt.Errorf("list line %d: address %s follows no name", line, ips[0])
		case len(names) == 1:
			pending = names[0]
		}
		for _, ip := range ips {
			fa, err := newFQDNAddress(pending, ip)
			if err != nil {
				return nil, fmt.Errorf("list line %d: %w", line, err)
			}
			out = append(out, fa)
		}
		pending = ""
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading list: %w", err)
	}
	if pending != "" {
		return nil, fmt.Errorf("list line %d: %s has no address", pendingLine, pending)
	}
	if len(out) == 0 {
		return nil, errors.New("list holds no FQDN and address pair")
	}
	return out, nil
}

// splitListLine sorts the words of a line into names (with a dot) and
// addresses. Other words are headers and ignored. A word of digits and dots
// (or with a colon) that does not parse is a broken address, an error.
func splitListLine(text string) (names, ips []string, err error) {
	words := strings.FieldsFunc(text, func(r rune) bool {
		return r == ' ' || r == '\t' || r == ','
	})
	for _, w := range words {
		_, perr := netip.ParseAddr(w)
		switch {
		case perr == nil:
			ips = append(ips, w)
		case strings.Trim(w, "0123456789.") == "" || strings.Contains(w, ":"):
			return nil, nil, fmt.Errorf("%q is not an IP address", w)
		case strings.Contains(w, "."):
			names = append(names, w)
		}
	}
	return names, ips, nil
}
