package sshtarget

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseJumps(t *testing.T) {
	tests := []struct {
		list string
		want []hopSpec // raw is checked apart
		err  string
	}{
		{"bastion", []hopSpec{{host: "bastion"}}, ""},
		{"root@10.0.0.1:2222", []hopSpec{{user: "root", host: "10.0.0.1", port: "2222"}}, ""},
		{"[::1]:22", []hopSpec{{host: "::1", port: "22"}}, ""},
		{"ops@[2001:db8::1]", []hopSpec{{user: "ops", host: "2001:db8::1"}}, ""},
		{"2001:db8::1", []hopSpec{{host: "2001:db8::1"}}, ""},
		{"ssh://ops@gw.example.com:2200", []hopSpec{{user: "ops", host: "gw.example.com", port: "2200"}}, ""},
		{"gw1, ops@gw2:22", []hopSpec{{host: "gw1"}, {user: "ops", host: "gw2", port: "22"}}, ""},
		{"", nil, `hop 1 (""): empty`},
		{"a,,b", nil, `hop 2 (""): empty`},
		{"a,", nil, `hop 2 (""): empty`},
		{"@gw", nil, "empty user name"},
		{"ops@", nil, "no host"},
		{":22", nil, "no host"},
		{"-oProxyCommand=x@gw", nil, "starts with '-'"},
		{"gw:0", nil, `port "0"`},
		{"gw:65536", nil, `port "65536"`},
		{"gw:ssh", nil, `port "ssh"`},
		{"gw:", nil, `port ""`},
		{"[::1", nil, "'[' without ']'"},
		{"[::1]22", nil, `"22" after ']'`},
		{"2001:db8::1:22x", nil, "in brackets"},
		{"-oProxyCommand=x", nil, "not an IP address, a host name or an ssh_config alias"},
		{"gw;touch x", nil, "not an IP address"},
		{"gw x", nil, "not an IP address"},
		{"a b@gw", nil, "holds a space"},
	}
	for _, tt := range tests {
		t.Run(tt.list, func(t *testing.T) {
			got, err := parseJumps(tt.list)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parseJumps(%q) = %+v, %v; want an error containing %q", tt.list, got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				got[i].raw = ""
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseJumps(%q) = %+v, want %+v", tt.list, got, tt.want)
			}
		})
	}
}
