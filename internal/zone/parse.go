package zone

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// DefaultTTL is the TTL given to records that name none and follow no $TTL line.
const DefaultTTL = 3600

// ParseError is one problem in zone data, positioned in the file that holds it.
type ParseError struct {
	File string // the zone file, or the configuration file for inline records
	Line int    // 1-based line in File
	Col  int    // 1-based column, 0 when unknown
	Msg  string // what is wrong, without the position
}

// Error formats the problem as FILE:LINE:COL: problem (FILE:LINE when the
// column is unknown).
func (e *ParseError) Error() string {
	if e.Col > 0 {
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// ParseErrors holds every problem found in one piece of zone data.
type ParseErrors []*ParseError

// Error joins the problems, one per line.
func (es ParseErrors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// miekgPosition matches the position that github.com/miekg/dns appends to its
// parse errors; its error type keeps the line in unexported fields.
var miekgPosition = regexp.MustCompile(`^(?:.*?: )?dns: (.*) at line: (\d+):(\d+)$`)

// Parse reads RFC 1035 zone data for the zone at origin. file names the data in
// errors, and firstLine is the line of file on which text starts (1 for a whole
// file, later for records written inline in a configuration file).
//
// Parse does not stop at the first bad record: after an error it resumes on the
// next line, so that one run reports every broken line. With the errors it
// returns the records that did parse, so that a caller can check them too. A $TTL or $ORIGIN line
// seen before an error is forgotten after it; the resumed part uses origin and
// DefaultTTL.
func Parse(text, origin, file string, firstLine int) ([]dns.RR, error) {
	origin = dns.CanonicalName(origin)
	var (
		rrs  []dns.RR
		errs ParseErrors
	)
	lines := strings.SplitAfter(text, "\n")
	start := 0 // index into lines where the current parser began
	for start < len(lines) {
		zp := dns.NewZoneParser(strings.NewReader(strings.Join(lines[start:], "")), origin, file)
		zp.SetDefaultTTL(DefaultTTL)
		for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
			rrs = append(rrs, rr)
		}
		err := zp.Err()
		if err == nil {
			break
		}

		perr := positioned(err, file, firstLine+start)
		errs = append(errs, perr)
		resume := perr.Line - firstLine + 1 // index of the line after the bad one
		if resume <= start {
			resume = start + 1
		}
		start = resume
	}

	inZone := rrs[:0]
	for _, rr := range rrs {
		if !dns.IsSubDomain(origin, rr.Header().Name) {
			errs = append(errs, &ParseError{File: file, Line: firstLine,
				Msg: fmt.Sprintf("record %q is outside zone %q", rr.Header().Name, origin)})
			continue
		}
		inZone = append(inZone, rr)
	}
	if len(errs) > 0 {
		return inZone, errs
	}
	return inZone, nil
}

// positioned turns a miekg/dns parse error into a ParseError whose line counts
// from the start of file rather than from the start of the text handed to the
// parser, which began at line base of file.
func positioned(err error, file string, base int) *ParseError {
	var pe *dns.ParseError
	msg := err.Error()
	if errors.As(err, &pe) {
		msg = pe.Error()
	}
	m := miekgPosition.FindStringSubmatch(msg)
	if m == nil {
		return &ParseError{File: file, Line: base, Msg: msg}
	}
	line, _ := strconv.Atoi(m[2])
	col, _ := strconv.Atoi(m[3])
	return &ParseError{File: file, Line: base + line - 1, Col: col, Msg: m[1]}
}
