package config

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Error is one problem in a configuration, at the place that causes it.
type Error struct {
	File      string
	Line, Col int    // 1-based; 0 when the problem has no single place
	Field     string // path of the field, e.g. forward[0].upstreams[1]
	Msg       string
}

// Error formats the problem as FILE:LINE:COL: field: problem.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Col)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one configuration, in file order.
type Errors []error

// Error joins the problems, one per line.
func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Duration is a time.Duration written in YAML as Go writes durations: 30s, 1h.
type Duration time.Duration

// MarshalYAML writes the duration as a string such as 1h0m0s.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

var durationType = reflect.TypeOf(Duration(0))

// decoder fills Go values from YAML nodes by their yaml tags, strictly: an
// unknown key, a duplicate key or a value of the wrong kind is an error with
// its position. It records the node of every field so that later checks can
// point at the line they complain about.
type decoder struct {
	file  string
	errs  Errors
	nodes map[string]*yaml.Node // field path -> its value node
}

func (d *decoder) errorf(n *yaml.Node, field, format string, args ...any) {
	e := &Error{File: d.file, Field: field, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

// at reports a problem with the field at path, positioned at its node.
func (d *decoder) at(path, format string, args ...any) {
	d.errorf(d.nodes[path], path, format, args...)
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	d.nodes[path] = n
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty value keeps the default
	}

	if v.Type() == durationType {
		d.decodeDuration(n, v, path)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		d.decode(n, v.Elem(), path)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, path, "must be a string, not %s", kindName(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.errorf(n, path, "must be true or false, not %q", n.Value)
			return
		}
		v.SetBool(b)
	case reflect.Int:
		i, err := strconv.Atoi(n.Value)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.errorf(n, path, "must be a whole number, not %q", n.Value)
			return
		}
		v.SetInt(int64(i))
	default:
		d.errorf(n, path, "cannot hold a value of Go kind %s", v.Kind())
	}
}

func (d *decoder) decodeDuration(n *yaml.Node, v reflect.Value, path string) {
	dur, err := time.ParseDuration(n.Value)
	if n.Value == "0" {
		dur, err = 0, nil
	}
	if n.Kind != yaml.ScalarNode || err != nil || dur < 0 {
		d.errorf(n, path, "must be a duration such as 500ms, 30s or 1h, not %q", n.Value)
		return
	}
	v.SetInt(int64(dur))
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "must be a mapping of keys to values, not %s", kindName(n))
		return
	}
	fields := map[string]int{}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			fields[name] = i
		}
	}

	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		sub := key.Value
		if path != "" {
			sub = path + "." + key.Value
		}
		idx, ok := fields[key.Value]
		switch {
		case !ok:
			d.errorf(key, sub, "unknown field (known: %s)", known(fields))
			continue
		case seen[key.Value]:
			d.errorf(key, sub, "given twice")
			continue
		}
		seen[key.Value] = true
		d.decode(val, v.Field(idx), sub)
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	items := n.Content
	if n.Kind == yaml.ScalarNode {
		items = []*yaml.Node{n} // a single value stands for a list of one
	} else if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "must be a list, not %s", kindName(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(items), len(items))
	for i, item := range items {
		d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(s)
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

func known(fields map[string]int) string {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
