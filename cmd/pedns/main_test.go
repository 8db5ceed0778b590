package main

import (
	"bytes"
	"testing"
)

func TestExitStatuses(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{name: "no command", args: nil, want: exitUsage},
		{name: "help", args: []string{"help"}, want: exitOK},
		{name: "unknown command", args: []string{"frobnicate"}, want: exitUsage},
		{name: "serve -h", args: []string{"serve", "-h"}, want: exitOK},
		{name: "check -h", args: []string{"check", "-h"}, want: exitOK},
		{name: "check without a file", args: []string{"check"}, want: exitUsage},
		{name: "check with an extra argument", args: []string{"check", "-c", "a.yaml", "b"},
			want: exitUsage},
		{name: "serve with a bad flag", args: []string{"serve", "--nope"}, want: exitUsage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if got := run(tc.args, &out, &errOut); got != tc.want {
				t.Errorf("exit %d, want %d; stderr:\n%s", got, tc.want, errOut.String())
			}
		})
	}
}
